/**
 * snoop: a proxy that sees what passes through it. Entry point of the command line.
 *
 *   deno run -A mod.ts -L "http://:8080?sniffing=true" -C recorders.yaml
 */
import { main } from "./src/cli/cli.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
