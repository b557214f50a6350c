// The preference order of an answer. Sites fall in tiers, and the answer is the first tier
// that is not empty:
//   1. healthy sites with a weight above 0, nearest first by weighted distance;
//   2. healthy sites with weight 0 (evacuated), only when no site of tier 1 is left;
//   3. every site (fail open: when every site looks down, a stale answer beats none).
// Weighted distance is (km + 1) × weightMax / weight: a site at half weight looks twice
// as far, so its catchment shrinks towards its own clients (follow the sun) while clients
// in its own subnet still reach it. Without a location, higher weight then planet order.
// Within a site, its healthy gateways in index order (tier 3: all of them). The ranking
// orders every site of the tier; the answer then lists only the first one's gateways (and
// as many fallback sites after it as the service asks for; message.ts).
import { greatCircleKm, type LatLon, type Planet } from "../../topology/index.ts";
import { rankCacheEntriesMax, weightMax } from "./constants.ts";
import { type Locator, locate } from "./locate.ts";

export type SiteHealth = {
  /** Gateway hosts of the site that are up by consensus, in index order. */
  readonly upHosts: readonly string[];
};

export type Ranked = {
  /** Gateway addresses in preference order (every site of the tier). */
  readonly hosts: readonly string[];
  /** The same addresses by site, in the same order: what an answer limited to N sites takes. */
  readonly hostsBySite: readonly (readonly string[])[];
  /** Site names in preference order. */
  readonly sites: readonly string[];
  /** The ECS scope: 0 when the answer cannot depend on where the client is. */
  readonly scopePrefixLength: number;
  /** The client network the decision used, if any. */
  readonly clientNetwork: string | undefined;
};

type SiteInfo = { name: string; index: number; at: LatLon; hosts: string[] };

export class Ranker {
  readonly #sites: SiteInfo[];
  readonly #locator: Locator;
  #health = new Map<string, SiteHealth>();
  #weights = new Map<string, number>();
  #cache = new Map<string, Ranked>();
  #generation = 0;

  constructor(planet: Planet, locator: Locator) {
    this.#locator = locator;
    this.#sites = planet.sites.map((s) => ({
      name: s.name,
      index: s.index,
      at: { lat: s.lat, lon: s.lon },
      hosts: planet.gateways.filter((g) => g.site === s.name).map((g) => g.host),
    }));
    for (const s of this.#sites) this.#health.set(s.name, { upHosts: s.hosts });
  }

  /** Bumped whenever health or weights change what an answer can be. */
  get generation(): number {
    return this.#generation;
  }

  update(health: ReadonlyMap<string, SiteHealth>, weights: Readonly<Record<string, number>>): void {
    this.#health = new Map(health);
    this.#weights = new Map(Object.entries(weights));
    this.#cache.clear();
    this.#generation++;
  }

  weightOf(site: string): number {
    return this.#weights.get(site) ?? weightMax;
  }

  /** Ranks for a client at `ip` of which `knownBits` are known; undefined ip = no location. */
  rank(ip: number | undefined, knownBits: number): Ranked {
    const key = ip === undefined ? "-" : `${ip}/${knownBits}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const located = ip === undefined ? undefined : locate(this.#locator, ip, knownBits);
    const ranked = this.#compute(located?.network?.at, located?.scopePrefixLength ?? 0, located?.network?.name);
    if (this.#cache.size >= rankCacheEntriesMax) this.#cache.clear();
    this.#cache.set(key, ranked);
    return ranked;
  }

  #compute(at: LatLon | undefined, scope: number, clientNetwork: string | undefined): Ranked {
    const healthy = this.#sites.filter((s) => (this.#health.get(s.name)?.upHosts.length ?? 0) > 0);
    const tier1 = healthy.filter((s) => this.weightOf(s.name) > 0);
    const tier2 = healthy.filter((s) => this.weightOf(s.name) === 0);
    const failOpen = tier1.length === 0 && tier2.length === 0;
    const chosen = tier1.length > 0 ? tier1 : tier2.length > 0 ? tier2 : this.#sites;
    const cost = (s: SiteInfo): number => {
      const w = this.weightOf(s.name);
      const km = at ? greatCircleKm(at, s.at) + 1 : 1;
      // In tiers 2 and 3 a weight of 0 must still order: it only pushes the site last.
      return w > 0 ? (km * weightMax) / w : Number.MAX_SAFE_INTEGER / 2 + km;
    };
    const ordered = [...chosen].sort((a, b) => cost(a) - cost(b) || a.index - b.index);
    const hostsBySite = ordered.map((s) => (failOpen ? s.hosts : (this.#health.get(s.name)?.upHosts ?? [])));
    const hosts = hostsBySite.flat();
    // One site listed means the same answer for every client, wherever it is.
    const dependsOnClient = ordered.length > 1;
    return {
      hosts,
      hostsBySite,
      sites: ordered.map((s) => s.name),
      scopePrefixLength: dependsOnClient ? scope : 0,
      clientNetwork,
    };
  }
}
