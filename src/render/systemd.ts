// `redshirt render systemd`: one unit per process of a site — a unit per store node,
// gateway and DNS server (their planet identities), a template for the app instances, and
// a target that groups them. systemd keeps them alive in place of our supervisor: restarts
// that back off but never give up, a SIGTERM that lets each process drain in its own way,
// and a sandbox. Instances register by leases themselves, so the gateways find the apps
// whichever engine started them.
import { join } from "node:path";
import { roleAddress, type Site, topologyConstants } from "../topology/index.ts";
import {
  restartMaxDelayMs,
  restartSecMs,
  restartSteps,
  startLimitIntervalS,
  stopGraceMsByTier,
  systemUser,
} from "./constants.ts";
import type { SitePlan } from "./plan.ts";
import { environmentLine, formatUnit, unitWord } from "./unit-file.ts";

export type SystemdOptions = {
  /** Where the project is installed (holds src/cli/main.ts). */
  readonly installDir: string;
  /** Where the rendered planet.yaml and the planet secret live. */
  readonly configDir: string;
  readonly nodeBin: string;
  /** The app's entry file, absolute. */
  readonly appEntry: string;
  readonly appVersion: string;
  readonly platformVersion: string;
};

export type RenderedFiles = ReadonlyMap<string, string>;

type Kind = "store" | "gateway" | "dns" | "app" | "wan";

export const targetName = (site: string): string => `redshirt-site-${site}.target`;
export const appTemplateName = (site: string): string => `redshirt-app-${site}@.service`;
export const processUnitName = (id: string): string => `redshirt-${id}.service`;

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The sandbox every unit runs in. No MemoryDenyWriteExecute: V8's JIT writes code it runs. */
function hardening(kind: Kind, lowPort: boolean): string[] {
  return [
    `User=${systemUser}`,
    `Group=${systemUser}`,
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RemoveIPC=yes",
    "UMask=0077",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources",
    "SystemCallErrorNumber=EPERM",
    "PrivateMounts=yes",
    // Our processes never look at other processes (no supervisor here adopts anything).
    "ProtectProc=invisible",
    // A DNS server on port 53 binds a low port; nothing else needs any capability.
    lowPort ? "AmbientCapabilities=CAP_NET_BIND_SERVICE" : "AmbientCapabilities=",
    lowPort ? "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" : "CapabilityBoundingSet=",
    kind === "store" ? "LimitNOFILE=65536" : "LimitNOFILE=16384",
  ];
}

function serviceUnit(
  plan: SitePlan,
  o: SystemdOptions,
  u: {
    kind: Kind;
    description: string;
    argv: readonly string[];
    env: readonly string[];
    after: readonly string[];
    extra?: readonly string[];
    template?: boolean;
  },
): string {
  const site = plan.site.name;
  const lowPort = u.kind === "dns" && plan.planet.ports.dns < 1024;
  return formatUnit([
    [
      "Unit",
      [
        `Description=${u.description}`,
        `Documentation=file://${join(o.installDir, "docs/operating.md")}`,
        `PartOf=${targetName(site)}`,
        "Wants=network-online.target",
        `After=${["network-online.target", ...u.after].join(" ")}`,
        // 0 turns the start rate limit off: with the back-off below a crash loop is slowed, never given up.
        `StartLimitIntervalSec=${startLimitIntervalS}`,
      ],
    ],
    [
      "Service",
      [
        "Type=exec",
        `WorkingDirectory=${o.installDir}`,
        ...u.env,
        `ExecStart=${u.argv.join(" ")}`,
        // Every process drains on SIGTERM by itself (a second SIGTERM cuts a gateway's
        // drain short), so there is no ExecStop: systemd sends one SIGTERM and waits.
        "KillSignal=SIGTERM",
        "KillMode=mixed",
        `TimeoutStopSec=${seconds(stopGraceMsByTier[u.kind])}`,
        "Restart=always",
        `RestartSec=${seconds(restartSecMs)}`,
        `RestartSteps=${restartSteps}`,
        `RestartMaxDelaySec=${seconds(restartMaxDelayMs)}`,
        `SyslogIdentifier=redshirt-${u.kind}`,
        ...(u.extra ?? []),
        ...hardening(u.kind, lowPort),
      ],
    ],
    ["Install", [`WantedBy=${targetName(site)}`]],
  ]);
}

function commonEnv(plan: SitePlan, o: SystemdOptions, kind: Kind, version: string): string[] {
  return [
    environmentLine("REDSHIRT_PLANET", join(o.configDir, "planet.yaml")),
    environmentLine("REDSHIRT_SITE", plan.site.name),
    environmentLine("REDSHIRT_TIER", kind),
    environmentLine("REDSHIRT_VERSION", version),
    environmentLine("NODE_ENV", "production"),
  ];
}

/** `a.b.4.` of a site: an app instance `@k` listens on its k-th app address. */
function appAddressPrefix(site: Site): string {
  const zero = roleAddress(site.subnetCidr, "app", 0);
  return zero.slice(0, zero.lastIndexOf(".") + 1);
}

export function renderSystemd(plan: SitePlan, o: SystemdOptions): RenderedFiles {
  const files = new Map<string, string>();
  const site = plan.site.name;
  const cli = [unitWord(o.nodeBin), unitWord(join(o.installDir, "src/cli/main.ts"))];
  const planetArg = ["--planet", unitWord(join(o.configDir, "planet.yaml"))];
  const storeUnits = plan.storeNodes.map((n) => processUnitName(n.id));
  const wanUnits = plan.wan ? [processUnitName(plan.wan.id)] : [];
  if (plan.wan) {
    files.set(
      processUnitName(plan.wan.id),
      serviceUnit(plan, o, {
        kind: "wan",
        description: `redshirt ${site}: the emulated WAN links of the site (one machine only)`,
        argv: [...cli, "wan", ...planetArg, "--site", unitWord(site)],
        env: [...commonEnv(plan, o, "wan", o.platformVersion), environmentLine("REDSHIRT_INSTANCE_ID", plan.wan.id)],
        after: [],
      }),
    );
  }
  for (const n of plan.storeNodes) {
    files.set(
      processUnitName(n.id),
      serviceUnit(plan, o, {
        kind: "store",
        description: `redshirt ${site}: store node ${n.id} (${n.host}:${n.port})`,
        // systemd sets STATE_DIRECTORY to /var/lib/redshirt/<id> (StateDirectory=): the node's SQLite file lives there.
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a systemd variable, expanded by systemd
        argv: [...cli, "store", ...planetArg, "--node", unitWord(n.id), "--data-dir", "${STATE_DIRECTORY}"],
        env: [...commonEnv(plan, o, "store", o.platformVersion), environmentLine("REDSHIRT_INSTANCE_ID", n.id)],
        after: wanUnits,
        extra: [`StateDirectory=redshirt/${n.id}`, "StateDirectoryMode=0700"],
      }),
    );
  }
  const appTemplate = appTemplateName(site);
  files.set(
    appTemplate,
    serviceUnit(plan, o, {
      kind: "app",
      description: `redshirt ${site}: app instance %i`,
      argv: [unitWord(o.nodeBin), unitWord(o.appEntry)],
      // No REDSHIRT_INSTANCE_ID: the SDK gives every start a fresh id (cattle); @k only picks the address.
      env: [
        ...commonEnv(plan, o, "app", o.appVersion),
        environmentLine("HOST", `${appAddressPrefix(plan.site)}%i`, { keepSpecifiers: true }),
        environmentLine("PORT", String(plan.planet.ports.app)),
      ],
      after: [...wanUnits, ...storeUnits],
      template: true,
    }),
  );
  for (const g of plan.gateways) {
    files.set(
      processUnitName(g.id),
      serviceUnit(plan, o, {
        kind: "gateway",
        description: `redshirt ${site}: gateway ${g.id} (${g.host}:${g.port})`,
        argv: [
          cli[0],
          ...topologyConstants.gatewayNodeFlags,
          cli[1],
          "gateway",
          ...planetArg,
          "--site",
          unitWord(site),
          "--index",
          String(g.index),
        ],
        env: [...commonEnv(plan, o, "gateway", o.platformVersion), environmentLine("REDSHIRT_INSTANCE_ID", g.id)],
        after: [...wanUnits, ...storeUnits],
      }),
    );
  }
  for (const d of plan.dnsServers) {
    files.set(
      processUnitName(d.id),
      serviceUnit(plan, o, {
        kind: "dns",
        description: `redshirt ${site}: GSLB DNS server ${d.id} (${d.host}:${d.port} udp+tcp)`,
        argv: [...cli, "dns", ...planetArg, "--site", unitWord(site), "--index", String(d.index)],
        env: [...commonEnv(plan, o, "dns", o.platformVersion), environmentLine("REDSHIRT_INSTANCE_ID", d.id)],
        after: [...wanUnits, ...plan.gateways.map((g) => processUnitName(g.id))],
      }),
    );
  }
  const apps = Array.from({ length: plan.site.tiers.app }, (_, k) => appTemplate.replace("@", `@${k + 1}`));
  const members = [...files.keys()].filter((f) => f !== appTemplate);
  files.set(
    targetName(site),
    formatUnit([
      [
        "Unit",
        [
          `Description=redshirt site ${site} (${plan.site.city}) of planet ${plan.planet.name}`,
          `Documentation=file://${join(o.installDir, "docs/operating.md")}`,
          `Wants=${[...members, ...apps].join(" ")}`,
        ],
      ],
      ["Install", ["WantedBy=multi-user.target"]],
    ]),
  );
  return files;
}
