import type { Where } from "./config_error.ts";
import type { Metadata } from "./metadata.ts";

/** The configuration after loading and validation: GOST's vocabulary, typed. */
export interface Config {
  services: ServiceConfig[];
  recorders: RecorderConfig[];
  bypasses: BypassConfig[];
  log: { level?: "trace" | "debug" | "info" | "warn" | "error" };
  /** The web UI and query API (snoop's own section). */
  ui?: UiConfig;
  /** Process-wide bounds (snoop's own section). */
  limits?: LimitsConfig;
  /** Upstream proxies (`chains:`, `-F`), used by services' `handler.chain`. */
  chains?: ChainConfig[];
}

/** A chain of upstream proxies: connections go through each hop in order (GOST's chain). */
export interface ChainConfig {
  name: string;
  hops: HopConfig[];
  where: Where;
}

export interface HopConfig {
  name: string;
  /** One node is picked per connection (round robin, the next one when a dial fails). */
  nodes: ChainNodeConfig[];
  /** Targets this bypass contains leave the chain before this hop. */
  bypass?: { name: string; where: Where };
  where: Where;
}

export interface ChainNodeConfig {
  name: string;
  /** The upstream proxy's `host:port`. */
  addr: string;
  connector: { type: "http" | "socks5"; auth?: AuthConfig };
  /** Targets this bypass contains do not use this node. */
  bypass?: { name: string; where: Where };
  where: Where;
}

export interface LimitsConfig {
  /**
   * Bytes of captured bodies and payloads held at once, in captures and in recorder
   * queues; past it, records go without their bodies and say so.
   */
  captureBudget: number;
  where: Where;
}

export interface UiConfig {
  addr: string;
  /** The `store` recorder whose records it shows. */
  store: string;
  /**
   * The access token (`Authorization: Bearer …`, `?token=` once, then a cookie). Empty: a
   * random one per start (or `$SNOOP_UI_TOKEN`); `off`: none, allowed on loopback only.
   */
  token: string;
  /** Host names (or `host:port`) the UI answers to besides loopback names and its address. */
  hosts: string[];
  /** CA certificate offered for download (the main job's). */
  caFile: string;
  /** Bytes a body is decoded to at most (gzip, deflate, br, zstd) for the body endpoint. */
  maxDecodedBody: number;
  where: Where;
}

export interface AuthConfig {
  username: string;
  password: string;
}

export interface ServiceConfig {
  name: string;
  addr: string;
  handler: {
    type: string;
    auth?: AuthConfig;
    metadata: Metadata;
    where: Where;
    typeWhere: Where;
    /** `handler.chain`: the upstream proxies it dials through (resolved by mergeConfigs). */
    chain?: { name: string; where: Where; config?: ChainConfig };
  };
  listener: { type: string; metadata: Metadata; where: Where; typeWhere: Where };
  /** Targets of the port-forwarding handlers (`tcp://:2222/host:22`, `forwarder.nodes`). */
  forwarder: { nodes: { name: string; addr: string; where: Where }[] };
  recorders: ServiceRecorderConfig[];
  /** Service-level bypass: matching requests are refused. */
  bypass?: { name: string; where: Where };
  metadata: Metadata;
  where: Where;
}

/** The record names a service can send to a recorder (GOST's `record:`). */
export const RECORD_TYPES = [
  "recorder.service.handler",
  "recorder.service.client.address",
  "recorder.service.router.dial.address",
  "recorder.service.router.dial.address.error",
] as const;
export type RecordType = typeof RECORD_TYPES[number];

export interface ServiceRecorderConfig {
  name: string;
  record: RecordType;
  metadata: Metadata;
  where: Where;
}

export type RecorderConfig =
  | RecorderBase & {
    kind: "http";
    http: {
      url: string;
      timeoutMs: number;
      header: Record<string, string>;
      /** Records per POST as a JSON array; 0: one record per POST, as GOST. */
      batch: number;
    };
  }
  | RecorderBase & {
    kind: "file";
    file: { path: string; sep: string; rotation?: { maxSizeMB: number; maxBackups: number } };
  }
  | RecorderBase & { kind: "tcp"; tcp: { addr: string; timeoutMs: number } }
  | RecorderBase & {
    kind: "store";
    /** `indexBodies`: decoded body text in the word index (default true). */
    store: { path: string; maxAgeMs: number; maxRecords: number; indexBodies: boolean };
  }
  | RecorderBase & {
    kind: "redis";
    redis: {
      addr: string;
      db: number;
      username: string;
      password: string;
      key: string;
      type: "set" | "list" | "sset";
    };
  };

export interface RecorderBase {
  name: string;
  /** Records waiting to be sent; past this, new records are dropped and counted. */
  queueSize: number;
  /**
   * snoop's: a filter expression (the UI's and `f=`'s language); only handler records that
   * match are sent. Compiled where the recorder is made, errors pointing at `where`.
   */
  filter?: { expr: string; where: Where };
  where: Where;
}

export interface BypassConfig {
  name: string;
  whitelist: boolean;
  matchers: string[];
  where: Where;
}
