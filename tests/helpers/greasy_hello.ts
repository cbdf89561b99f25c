import { alpnData, clientHelloRecords, sniData, versionsData } from "./tls_hello_builder.ts";

export const u16s = (...v: number[]) =>
  Uint8Array.from([
    v.length * 2 >> 8,
    v.length * 2 & 0xff,
    ...v.flatMap((n) => [n >> 8, n & 0xff]),
  ]);

/**
 * A Chrome-shaped hello with GREASE in every list: ciphers, extensions, groups and
 * supported_versions. The expected values are worked out from the two specs by hand:
 *   JA3 string: 771 (0x0303) , 4865-4866-49199 , 0-16-10-11-13-43 , 29-23 , 0
 *   JA4 a: t 13 (supported_versions' highest) d (SNI) 03 ciphers 06 extensions h2
 *   JA4 b: sha256("1301,1302,c02f")[:12]
 *   JA4 c: sha256("000a,000b,000d,002b_0403,0804")[:12] (SNI and ALPN out, sig algs in order)
 * and the digests with md5sum/sha256sum.
 */
export const greasy = clientHelloRecords({
  suites: [0x0a0a, 0x1301, 0x1302, 0xc02f],
  extensions: [
    [0x1a1a, new Uint8Array(0)],
    [0, sniData("example.com")],
    [16, alpnData("h2", "http/1.1")],
    [10, u16s(0x2a2a, 0x001d, 0x0017)],
    [11, Uint8Array.from([1, 0])],
    [13, u16s(0x0403, 0x0804)],
    [43, versionsData(0x3a3a, 0x0304, 0x0303)],
  ],
});
