import { timingSafeEqual } from "node:crypto";
import type { AuthConfig } from "../config/types.ts";

const encoder = new TextEncoder();

/**
 * Checks proxy credentials. Both user and password are compared in constant time over
 * their SHA-256 digests, so neither a wrong length nor an early mismatch shows in timing.
 */
export class Authenticator {
  readonly #user: Uint8Array;
  readonly #pass: Uint8Array;
  failures = 0;

  private constructor(user: Uint8Array, pass: Uint8Array) {
    this.#user = user;
    this.#pass = pass;
  }

  static async create(auth: AuthConfig): Promise<Authenticator> {
    return new Authenticator(await digest(auth.username), await digest(auth.password));
  }

  async verify(username: string, password: string): Promise<boolean> {
    const [u, p] = await Promise.all([digest(username), digest(password)]);
    const ok = timingSafeEqual(u, this.#user) && timingSafeEqual(p, this.#pass);
    if (!ok) this.failures++;
    return ok;
  }
}

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(s)));
}
