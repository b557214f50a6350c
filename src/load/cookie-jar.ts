// A browser's cookie jar for one user of one site (the service name): keeps what
// Set-Cookie gives, forgets what it expires (Max-Age ≤ 0 or an Expires in the past, or an
// empty value), and sends the rest back. Domain and Path are not told apart: every cookie
// of ours is the whole service's (Path=/).
import type { Clock } from "../core/index.ts";

/** Cookies one user holds at most; a server that sets more is refused (one of ours sets one). */
export const cookiesMax = 50;
export const cookieBytesMax = 4_096;

export class CookieJar {
  readonly #cookies = new Map<string, { value: string; expiresAtMs: number }>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Takes the Set-Cookie header values of one response. */
  store(setCookie: string | string[] | undefined): void {
    for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
      if (line.length > cookieBytesMax) continue;
      const [pair, ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expiresAtMs = Number.POSITIVE_INFINITY;
      for (const attribute of attributes) {
        const [key, v = ""] = attribute.split("=").map((s) => s.trim());
        if (key.toLowerCase() === "max-age" && /^-?\d+$/.test(v)) {
          expiresAtMs = this.#clock.monoMs() + Number(v) * 1_000;
        } else if (key.toLowerCase() === "expires" && expiresAtMs === Number.POSITIVE_INFINITY) {
          const at = Date.parse(v);
          if (!Number.isNaN(at)) expiresAtMs = this.#clock.monoMs() + (at - this.#clock.nowMs());
        }
      }
      if (value === "" || expiresAtMs <= this.#clock.monoMs()) this.#cookies.delete(name);
      else if (this.#cookies.has(name) || this.#cookies.size < cookiesMax)
        this.#cookies.set(name, { value, expiresAtMs });
    }
  }

  get(name: string): string | undefined {
    const c = this.#cookies.get(name);
    if (c && c.expiresAtMs <= this.#clock.monoMs()) {
      this.#cookies.delete(name);
      return undefined;
    }
    return c?.value;
  }

  /** The Cookie header to send, or undefined when the jar is empty. */
  header(): string | undefined {
    const parts: string[] = [];
    for (const name of [...this.#cookies.keys()]) {
      const value = this.get(name);
      if (value !== undefined) parts.push(`${name}=${value}`);
    }
    return parts.length ? parts.join("; ") : undefined;
  }
}
