import assert from "node:assert/strict";
import { IDLE_READ, MessageReader } from "../../src/protocol/http1/message_reader.ts";
import { Http1Parser } from "../../src/protocol/http1/parser.ts";
import type { Stream } from "../../src/net/stream.ts";

/**
 * A byte source that hands out its segments as fast as asked, never two in one read (as
 * messages that arrive apart), and notes each read's size.
 */
function source(...segments: Uint8Array[]): Stream & { readSizes: number[] } {
  let offset = 0;
  const readSizes: number[] = [];
  return {
    readSizes,
    read(p: Uint8Array) {
      readSizes.push(p.length);
      while (segments.length && offset === segments[0].length) {
        segments.shift();
        offset = 0;
      }
      if (!segments.length) return Promise.resolve(null);
      const n = Math.min(p.length, segments[0].length - offset);
      p.set(segments[0].subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
    write: () => Promise.reject(new Error("not written to")),
    closeWrite: () => Promise.resolve(),
    close() {},
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 2 },
  };
}

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

Deno.test("a large body is read in growing reads, and the reader shrinks between messages", async () => {
  const body = 3 * 1024 * 1024;
  const head = latin1(`HTTP/1.1 200 OK\r\nContent-Length: ${body}\r\n\r\n`);
  const first = new Uint8Array(head.length + body).fill(0x61);
  first.set(head);
  const stream = source(first, latin1("HTTP/1.1 204 No Content\r\n\r\n"));
  const reader = new MessageReader(stream, new Http1Parser("response"));
  reader.parser.expectResponseTo("GET");
  reader.parser.expectResponseTo("GET");

  let received = 0;
  for (let ev = await reader.next(); ev?.type !== "end"; ev = await reader.next()) {
    if (ev?.type === "body") received += ev.data.length;
  }
  assert.equal(received, body);
  // 4 KiB, then four times larger while reads come back full, up to 256 KiB.
  assert.deepEqual(stream.readSizes.slice(0, 5), [4096, 16384, 65536, 262144, 262144]);
  assert.ok(stream.readSizes.length < 20, `${stream.readSizes.length} reads for 3 MiB`);

  reader.shrink();
  const before = stream.readSizes.length;
  const second = await reader.next();
  assert.equal(second?.type === "head" && second.head.status, 204);
  assert.equal(stream.readSizes[before], IDLE_READ);
});
