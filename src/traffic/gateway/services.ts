// Which service a request is for, and so which retry choices apply: the first label of its
// Host under the planet's zone (`www.redshirt.test` -> www). Any other Host (an address, a
// name outside the zone) is the planet's first service, the one a bare address serves.
// Services the gateway section does not mention retry nothing beyond safe methods.
import type { Planet, ServiceSettings } from "../../topology/index.ts";

/** Host values remembered at once; a client can send any Host, so the table is bounded. */
const hostsMax = 256;

const noRetries: ServiceSettings = { idempotencyKeyRetries: false, appDedupsThroughStore: false };

export class ServiceTable {
  readonly #byName: Map<string, ServiceSettings>;
  readonly #first: ServiceSettings;
  readonly #zoneSuffix: string;
  readonly #byHost = new Map<string, ServiceSettings>();
  /** Most requests on a gateway carry the same Host: compared before hashing it. */
  #lastHost = "";
  #lastService: ServiceSettings = noRetries;

  constructor(planet: Planet) {
    const settings = planet.gateway.services;
    this.#byName = new Map(planet.services.map((name) => [name, settings[name] ?? noRetries]));
    this.#first = this.#byName.get(planet.services[0]) ?? noRetries;
    this.#zoneSuffix = `.${planet.zone.slice(0, -1).toLowerCase()}`;
    this.#lastService = this.#first;
  }

  of(host: string | undefined): ServiceSettings {
    if (host === undefined) return this.#first;
    if (host === this.#lastHost) return this.#lastService;
    const known = this.#byHost.get(host);
    if (known !== undefined) {
      this.#lastHost = host;
      this.#lastService = known;
      return known;
    }
    const colon = host.lastIndexOf(":");
    const name = (colon > host.lastIndexOf("]") ? host.slice(0, colon) : host).toLowerCase().replace(/\.$/, "");
    let found = this.#first;
    if (name.endsWith(this.#zoneSuffix)) {
      found = this.#byName.get(name.slice(0, name.length - this.#zoneSuffix.length)) ?? this.#first;
    }
    if (this.#byHost.size >= hostsMax) this.#byHost.clear();
    this.#byHost.set(host, found);
    this.#lastHost = host;
    this.#lastService = found;
    return found;
  }
}
