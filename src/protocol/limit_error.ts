/**
 * A sniffer stopped because the traffic crossed one of its limits (a hostile or unusual
 * peer), not because it could not parse it: tunnels count these (`limit="sniff-…"`).
 */
export class SniffLimitError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "SniffLimitError";
  }
}
