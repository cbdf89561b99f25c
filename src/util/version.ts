/** snoop's version, printed by `-V` and sent in `Proxy-Agent`. */
export const VERSION = "0.1.0";
