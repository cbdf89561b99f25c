import type { SniffContext, Sniffer } from "./sniffer.ts";

/**
 * A protocol snoop does not read (or one it gave up on): the tunnel's own record, with the
 * relay's byte counts, is all there is.
 */
export class OpaqueSniffer implements Sniffer {
  readonly name = "opaque";
  constructor(readonly ctx: SniffContext) {}
  onClientData(): void {}
  onServerData(): void {}
  finish(): void {
    this.ctx.emit(this.ctx.record);
  }
}
