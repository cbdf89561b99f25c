/**
 * Wireshark's own JA3 of ClientHello bytes: the bytes go into a pcap as the payload of one
 * TCP segment to port 443 (text2pcap makes the Ethernet, IP and TCP headers) and tshark
 * dissects it, answering `tls.handshake.ja3` (the MD5) and `tls.handshake.ja3_full`.
 */
import { run } from "./harness.ts";

export async function tsharkJa3(hello: Uint8Array): Promise<{ ja3: string; ja3String: string }> {
  const dir = await Deno.makeTempDir({ prefix: "snoop-ja3-" });
  try {
    // text2pcap's input: offset, then hex bytes, 16 a line.
    const lines: string[] = [];
    for (let i = 0; i < hello.length; i += 16) {
      const bytes = [...hello.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, "0"));
      lines.push(`${i.toString(16).padStart(6, "0")} ${bytes.join(" ")}`);
    }
    await Deno.writeTextFile(`${dir}/hello.txt`, lines.join("\n") + "\n");
    const made = await run("text2pcap", [
      "-q",
      "-T",
      "50000,443",
      `${dir}/hello.txt`,
      `${dir}/hello.pcap`,
    ], {
      timeoutMs: 10_000,
    });
    if (made.code !== 0) throw new Error(`text2pcap: ${made.stderr}`);
    const out = await run("tshark", [
      "-r",
      `${dir}/hello.pcap`,
      "-o",
      "tls.desegment_ssl_records:TRUE",
      "-T",
      "fields",
      "-E",
      "separator=|",
      "-e",
      "tls.handshake.ja3",
      "-e",
      "tls.handshake.ja3_full",
    ], { timeoutMs: 30_000 });
    if (out.code !== 0) throw new Error(`tshark: ${out.stderr}`);
    const [ja3, ja3String] = out.stdout.trim().split("|");
    return { ja3: ja3 ?? "", ja3String: ja3String ?? "" };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
