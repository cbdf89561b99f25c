import type * as X509 from "@peculiar/x509";

let loading: Promise<typeof X509> | undefined;

/**
 * @peculiar/x509, loaded on first use (a CA is loaded or created): with reflect-metadata it
 * adds megabytes of RSS that a proxy without interception need not carry. Its WebCrypto
 * provider is the runtime's own, so every signature is native.
 */
export function x509Library(): Promise<typeof X509> {
  return loading ??= (async () => {
    await import("reflect-metadata");
    const library = await import("@peculiar/x509");
    library.cryptoProvider.set(crypto);
    return library;
  })();
}
