// The table of `redshirt` subcommands. Each lives in its own module, loaded only when run,
// so `redshirt kv get` does not load the gateway.

export type Command = {
  readonly summary: string;
  readonly load: () => Promise<{ run(args: string[]): Promise<number> }>;
};

export const commands: Record<string, Command> = {
  up: {
    summary:
      "start the whole planet on this machine (what `npm start` runs) and its dashboard, or only its sites --site NAME (one host per site); --users N starts N virtual users per region",
    load: () => import("./up-command.ts"),
  },
  status: {
    summary: "every site's tiers and instances, from its supervisor (--json for machines)",
    load: () => import("./status-command.ts"),
  },
  scale: {
    summary: "set a site's tier count: scale SITE TIER N (tiers: store, app, gateway, dns)",
    load: () => import("./scale-command.ts"),
  },
  deploy: {
    summary: "roll the app tier to a new version: deploy VERSION [--site S] [--app FILE] [--max-surge N] [--wait]",
    load: () => import("./deploy-command.ts"),
  },
  evacuate: {
    summary: "steer a site's users to the other sites, then drain its app tier to 0: evacuate SITE",
    load: () => import("./evacuate-command.ts"),
  },
  restore: {
    summary: "bring an evacuated site back: its app tier first, then its users: restore SITE",
    load: () => import("./restore-command.ts"),
  },
  sun: {
    summary:
      "the follow-the-sun clock: sun speed N sets it on every site (N× real time, from the simulated time it shows now); sun shows it",
    load: () => import("./sun-command.ts"),
  },
  down: {
    summary: "stop the planet: every instance and supervisor, waiting until no process is left",
    load: () => import("./down-command.ts"),
  },
  gateway: {
    summary: "run a site gateway: balance over the site's app instances, fail over to the nearest healthy site",
    load: () => import("./gateway-command.ts"),
  },
  planet: {
    summary: "validate a planet file and print its sites, distances and RTTs",
    load: () => import("./planet-command.ts"),
  },
  store: {
    summary: "run one store node: store --planet FILE --node ID; change membership: store join|leave|replace|members",
    load: () => import("./store-command.ts"),
  },
  kv: {
    summary: "read and write the store: kv get|put|incr|add|remove|del KEY [VALUE…]",
    load: () => import("./kv-command.ts"),
  },
  supervise: {
    summary: "run a site's supervisor (started by `up`): keeps every tier at its count, serves the control API",
    load: () => import("./supervise-command.ts"),
  },
  dns: {
    summary: "run a GSLB DNS server of the planet (--site NAME [--index K])",
    load: () => import("./dns-command.ts"),
  },
  load: {
    summary:
      "virtual users in every client region shop through the GSLB DNS and the WAN: load [--duration 60s] [--users N] [--seed N] [--out history.jsonl]",
    load: () => import("./load-command.ts"),
  },
  proof: {
    summary:
      "users from every region while chaos breaks things, then the verdict and its report.html: proof [--duration 60s] [--seed N] [--report FILE.html] [--json] | proof --recheck DIR",
    load: () => import("./proof-command.ts"),
  },
  check: {
    summary: "judge a run from its history: check HISTORY.jsonl [--json]; exit 0 pass, 1 fail, 3 not proven",
    load: () => import("./check-command.ts"),
  },
  chaos: {
    summary:
      "inject faults that revert themselves: chaos kill-instance|kill-tier|kill-site|pause|partition|slow|skew|empty-disk|monkey|list|heal … --ttl D",
    load: () => import("./chaos-command.ts"),
  },
  render: {
    summary:
      "one site as another engine's workloads: render kubernetes|systemd --site NAME [--planet FILE] [--out DIR] [--image IMG] [--with-secret]",
    load: () => import("./render-command.ts"),
  },
  wan: {
    summary: "the emulated WAN: wan cut|heal|slow A B, wan links [--json]; wan --site NAME runs a site's link process",
    load: () => import("./wan-command.ts"),
  },
};
