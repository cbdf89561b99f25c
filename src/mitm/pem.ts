/** PEM armour (RFC 7468): base64 in 64-character lines between BEGIN/END labels. */
import { Buffer } from "node:buffer";

export function toPem(label: string, der: Uint8Array | ArrayBuffer): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

/** The labels of the PEM blocks in a text (`CERTIFICATE`, `RSA PRIVATE KEY`, …). */
export function pemLabels(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]);
}
