// Who may say "another site's gateway sent this": the RS-Hop header turns failover off for
// the request (no loops) and makes the gateway keep the X-Forwarded-*/Forwarded fields the
// first gateway set. A client must not be able to do either, so a hop is believed only when
// it comes from one of the planet's gateway addresses *and* carries a stamp only a holder
// of the planet secret can make:
//
//   RS-Hop: <site>; t=<unix seconds>; mac=<HMAC-SHA256(secret, "redshirt-hop-v1", site, t)>
//
// The address check keeps out anyone off the planet's hosts; the MAC keeps out a process on
// a gateway host that lacks the secret (and a misconfigured peer of another planet), and the
// time bound limits a replayed stamp to hopStampSkewSMax. Like the store's handshake it
// authenticates the sender, not the bytes: the planet's links are assumed private. The
// gateway makes one stamp per second and remembers the last few it checked, so a failover
// burst costs one HMAC per second per peer, not one per request.
import { type Clock, hmacHex, macEqual } from "../../core/index.ts";
import { hopStampSkewSMax } from "./constants.ts";

const checkedMax = 64;
const stampRe = /^([a-z][a-z0-9-]{0,30}); t=(\d{1,12}); mac=([0-9a-f]{64})$/;

export type HopOptions = {
  /** The planet secret; without it no hop is believed (and none is made). */
  readonly secret: Buffer | undefined;
  /** This gateway's site: the value of the hops it makes. */
  readonly site: string;
  /** Every site of the planet. */
  readonly sites: readonly string[];
  /** The addresses of every gateway of the planet (where peers connect from). */
  readonly peerHosts: readonly string[];
  readonly clock: Clock;
};

export class HopAuth {
  readonly #o: HopOptions;
  readonly #peerHosts: Set<string>;
  readonly #sites: Set<string>;
  #stampS = -1;
  #stamp = "";
  /** Stamps already checked (value -> site), oldest first; bounded. */
  readonly #checked = new Map<string, string>();

  constructor(options: HopOptions) {
    this.#o = options;
    this.#peerHosts = new Set(options.peerHosts);
    this.#sites = new Set(options.sites);
  }

  /** A connection from this address may come from another site's gateway (exempt from per-source caps). */
  isPeerAddress(ip: string): boolean {
    return this.#peerHosts.has(ip);
  }

  /** The RS-Hop value this gateway sends to another site's gateway. */
  stamp(): string {
    const secret = this.#o.secret;
    if (secret === undefined) return this.#o.site;
    const s = Math.floor(this.#o.clock.nowMs() / 1000);
    if (s !== this.#stampS) {
      this.#stampS = s;
      this.#stamp = `${this.#o.site}; t=${s}; mac=${hmacHex(secret, "redshirt-hop-v1", this.#o.site, String(s))}`;
    }
    return this.#stamp;
  }

  /** The site a hop came from when it is authentic and from a peer address; undefined otherwise. */
  verify(ip: string, value: string): string | undefined {
    const secret = this.#o.secret;
    if (secret === undefined || !this.#peerHosts.has(ip)) return undefined;
    const m = stampRe.exec(value);
    if (m === null) return undefined;
    const site = m[1];
    if (site === this.#o.site || !this.#sites.has(site)) return undefined;
    const nowS = this.#o.clock.nowMs() / 1000;
    if (Math.abs(nowS - Number(m[2])) > hopStampSkewSMax) return undefined;
    if (this.#checked.get(value) === site) return site;
    if (!macEqual(m[3], hmacHex(secret, "redshirt-hop-v1", site, m[2]))) return undefined;
    this.#checked.set(value, site);
    if (this.#checked.size > checkedMax) this.#checked.delete(this.#checked.keys().next().value as string);
    return site;
  }
}
