// Site weights for follow-the-sun and evacuation: a small config the operator changes at
// run time on any DNS server's admin endpoint (PUT /_redshirt/dns/weights). Each change
// gets a version (the wall clock in ms, and always above the previous one); every server
// publishes its config in its probe view and adopts a peer's config when it is newer (last
// writer wins, ties broken by the server id), so all DNS servers converge within one poll.
import { z } from "zod";
import type { Clock } from "../../core/index.ts";
import { weightMax } from "./constants.ts";
import { dnsErrors } from "./errors.ts";

export type WeightConfig = {
  /** Last-writer-wins version: wall-clock ms of the change. 0 = the built-in default. */
  readonly version: number;
  /** The id of the DNS server where the change was made (breaks version ties). */
  readonly origin: string;
  /** Weight per site name, 0..weightMax; a site not named has weightMax. */
  readonly weights: Readonly<Record<string, number>>;
};

const weightSchema = z.number().int().min(0).max(weightMax);
export const weightConfigSchema = z
  .object({
    version: z.number().int().min(0),
    origin: z.string().max(128),
    weights: z.record(z.string().max(64), weightSchema),
  })
  .strict();
const weightsBodySchema = z.object({ weights: z.record(z.string().max(64), weightSchema) }).strict();

export const defaultWeightConfig: WeightConfig = { version: 0, origin: "", weights: {} };

function newer(a: WeightConfig, b: WeightConfig): boolean {
  return a.version > b.version || (a.version === b.version && a.origin > b.origin);
}

export class WeightStore {
  readonly #siteNames: ReadonlySet<string>;
  readonly #self: string;
  readonly #clock: Clock;
  #config: WeightConfig = defaultWeightConfig;

  constructor(siteNames: Iterable<string>, self: string, clock: Clock) {
    this.#siteNames = new Set(siteNames);
    this.#self = self;
    this.#clock = clock;
  }

  get config(): WeightConfig {
    return this.#config;
  }

  /** Replaces the weights from an operator's request body; throws RS_ERR_TRAFFIC_DNS_BAD_WEIGHTS. */
  setFromBody(body: unknown): WeightConfig {
    const parsed = weightsBodySchema.safeParse(body);
    if (!parsed.success) {
      throw dnsErrors.create("RS_ERR_TRAFFIC_DNS_BAD_WEIGHTS", parsed.error.issues.map((i) => i.message).join("; "));
    }
    const unknown = Object.keys(parsed.data.weights).filter((s) => !this.#siteNames.has(s));
    if (unknown.length > 0) {
      throw dnsErrors.create("RS_ERR_TRAFFIC_DNS_BAD_WEIGHTS", `unknown sites: ${unknown.join(", ")}`);
    }
    const version = Math.max(Math.floor(this.#clock.nowMs()), this.#config.version + 1);
    this.#config = { version, origin: this.#self, weights: parsed.data.weights };
    return this.#config;
  }

  /** Adopts a peer's config when it is newer; returns whether it did. Unknown sites are ignored. */
  merge(candidate: WeightConfig): boolean {
    if (!newer(candidate, this.#config)) return false;
    const weights: Record<string, number> = {};
    for (const [site, w] of Object.entries(candidate.weights)) if (this.#siteNames.has(site)) weights[site] = w;
    this.#config = { version: candidate.version, origin: candidate.origin, weights };
    return true;
  }
}
