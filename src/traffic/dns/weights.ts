// Site weights for follow-the-sun and evacuation: a small config changed at run time on any
// DNS server's admin endpoint (PUT /_redshirt/dns/weights, or one site at a time with PUT
// /_redshirt/dns/weights/<site>). Each site's weight is its own last-writer-wins register:
// a version (the wall clock in ms, always above any version this server knows) and the id
// of the server where it was set (breaks ties). Every server publishes its entries in its
// probe view and adopts, site by site, any entry newer than its own, so all DNS servers
// converge within one peer read — and two writers changing different sites at once (each
// site's supervisor keeps its own weight) never undo each other, which a whole-map register
// would do.
import { z } from "zod";
import type { Clock } from "../../core/index.ts";
import { weightMax } from "./constants.ts";
import { dnsErrors } from "./errors.ts";

export type WeightEntry = {
  readonly weight: number;
  /** Wall-clock ms of the change. */
  readonly version: number;
  /** The id of the DNS server where the change was made. */
  readonly origin: string;
};

export type WeightConfig = {
  /** The newest version of any entry (0 = nothing was ever set). */
  readonly version: number;
  /** The origin of that newest entry. */
  readonly origin: string;
  /** Weight per site for the sites not at weightMax (what the ranking reads). */
  readonly weights: Readonly<Record<string, number>>;
  /** Each site's register; a site without one has weightMax. */
  readonly entries: Readonly<Record<string, WeightEntry>>;
};

const weightSchema = z.number().int().min(0).max(weightMax);
const entrySchema = z
  .object({ weight: weightSchema, version: z.number().int().min(0), origin: z.string().max(128) })
  .strict();
export const weightConfigSchema = z
  .object({
    version: z.number().int().min(0),
    origin: z.string().max(128),
    weights: z.record(z.string().max(64), weightSchema),
    entries: z.record(z.string().max(64), entrySchema),
  })
  .strict();
const weightsBodySchema = z.object({ weights: z.record(z.string().max(64), weightSchema) }).strict();
const siteWeightBodySchema = z.object({ weight: weightSchema }).strict();

export const defaultWeightConfig: WeightConfig = { version: 0, origin: "", weights: {}, entries: {} };

function newer(a: WeightEntry, b: WeightEntry | undefined): boolean {
  return !b || a.version > b.version || (a.version === b.version && a.origin > b.origin);
}

function badWeights(issues: readonly { path: PropertyKey[]; message: string }[]): Error {
  const text = issues.map((i) => `${i.path.map(String).join(".") || "(body)"}: ${i.message}`).join("; ");
  return dnsErrors.create("RS_ERR_TRAFFIC_DNS_BAD_WEIGHTS", text);
}

export class WeightStore {
  readonly #siteNames: readonly string[];
  readonly #self: string;
  readonly #clock: Clock;
  #entries: Record<string, WeightEntry> = {};
  #config: WeightConfig = defaultWeightConfig;

  constructor(siteNames: Iterable<string>, self: string, clock: Clock) {
    this.#siteNames = [...siteNames];
    this.#self = self;
    this.#clock = clock;
  }

  get config(): WeightConfig {
    return this.#config;
  }

  /** Replaces every site's weight from an operator's body (a site left out is back at weightMax). */
  setFromBody(body: unknown): WeightConfig {
    const parsed = weightsBodySchema.safeParse(body);
    if (!parsed.success) throw badWeights(parsed.error.issues);
    this.#checkSites(Object.keys(parsed.data.weights));
    const version = this.#nextVersion();
    for (const site of this.#siteNames) {
      this.#entries[site] = { weight: parsed.data.weights[site] ?? weightMax, version, origin: this.#self };
    }
    return this.#rebuild();
  }

  /** Sets one site's weight from a body `{"weight": N}`; the other sites keep theirs. */
  setSiteFromBody(site: string, body: unknown): WeightConfig {
    this.#checkSites([site]);
    const parsed = siteWeightBodySchema.safeParse(body);
    if (!parsed.success) throw badWeights(parsed.error.issues);
    this.#entries[site] = { weight: parsed.data.weight, version: this.#nextVersion(), origin: this.#self };
    return this.#rebuild();
  }

  /** Adopts, site by site, a peer's entries newer than ours; returns whether any changed. Unknown sites are ignored. */
  merge(candidate: WeightConfig): boolean {
    let changed = false;
    for (const [site, entry] of Object.entries(candidate.entries)) {
      if (!this.#siteNames.includes(site) || !newer(entry, this.#entries[site])) continue;
      this.#entries[site] = { weight: entry.weight, version: entry.version, origin: entry.origin };
      changed = true;
    }
    if (changed) this.#rebuild();
    return changed;
  }

  #checkSites(sites: readonly string[]): void {
    const unknown = sites.filter((s) => !this.#siteNames.includes(s));
    if (unknown.length > 0) {
      throw dnsErrors.create(
        "RS_ERR_TRAFFIC_DNS_BAD_WEIGHTS",
        `unknown sites: ${unknown.join(", ")} (sites: ${this.#siteNames.join(", ")})`,
      );
    }
  }

  #nextVersion(): number {
    return Math.max(Math.floor(this.#clock.nowMs()), this.#config.version + 1);
  }

  #rebuild(): WeightConfig {
    let top: WeightEntry | undefined;
    const weights: Record<string, number> = {};
    for (const [site, e] of Object.entries(this.#entries)) {
      if (e.weight !== weightMax) weights[site] = e.weight;
      if (newer(e, top)) top = e;
    }
    this.#config = {
      version: top?.version ?? 0,
      origin: top?.origin ?? "",
      weights,
      entries: { ...this.#entries },
    };
    return this.#config;
  }
}
