// The pieces every redshirt pod is made of: the planet file, secret and scratch volumes, a
// locked-down container, probes on the processes' real health endpoints, and the init
// container that gives a pod its planet address.
//
// Why an init container: a store node, gateway or DNS server binds its address from the
// planet's address plan (the other sites dial it there, and the DNS answers it), while a
// pod gets whatever address the CNI hands out. So the pod puts its planet address on its
// own loopback, and two NAT rules in the pod's own network namespace join it to the
// cluster: what arrives for the pod (from the Service in front of it, or a kubelet probe)
// is passed to the planet address, and what the process sends from the planet address
// leaves from the pod's. Only this init container holds NET_ADMIN, only in the pod's
// namespace; the process itself runs with no capability at all.
import { containerUid, podPlanetDir, podSecretDir, probeTimeoutS, resourcesByTier } from "./constants.ts";

export type Json = Record<string, unknown>;

export const labelSite = "redshirt.dev/site";
export const labelTier = "redshirt.dev/tier";
export const labelSlot = "redshirt.dev/slot";

export function labels(site: string, tier: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    "app.kubernetes.io/name": "redshirt",
    "app.kubernetes.io/component": tier,
    "app.kubernetes.io/managed-by": "redshirt-render",
    [labelSite]: site,
    [labelTier]: tier,
    ...extra,
  };
}

export const planetFileInPod = `${podPlanetDir}/planet.yaml`;

export function baseVolumes(): Json[] {
  return [
    { name: "planet", configMap: { name: "redshirt-planet", items: [{ key: "planet.yaml", path: "planet.yaml" }] } },
    {
      name: "planet-secret",
      secret: {
        secretName: "redshirt-planet-secret",
        defaultMode: 0o440,
        items: [{ key: "planet.secret", path: "planet.secret" }],
      },
    },
    { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
  ];
}

export function baseMounts(): Json[] {
  return [
    { name: "planet", mountPath: podPlanetDir, readOnly: true },
    { name: "planet-secret", mountPath: podSecretDir, readOnly: true },
    { name: "tmp", mountPath: "/tmp" },
  ];
}

/**
 * What every pod spec starts with: no API token (nothing here talks to the Kubernetes API),
 * no Service environment variables (the planet file says where everything is), the volume
 * group the non-root user reads the secret and writes its data through.
 */
export function podDefaults(): Json {
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { fsGroup: containerUid, seccompProfile: { type: "RuntimeDefault" } },
  };
}

export function containerSecurity(): Json {
  return {
    runAsNonRoot: true,
    runAsUser: containerUid,
    runAsGroup: containerUid,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
  };
}

export function env(site: string, tier: string, version: string, extra: Json[] = []): Json[] {
  return [
    { name: "REDSHIRT_PLANET", value: planetFileInPod },
    { name: "REDSHIRT_SITE", value: site },
    { name: "REDSHIRT_TIER", value: tier },
    { name: "REDSHIRT_VERSION", value: version },
    { name: "NODE_ENV", value: "production" },
    ...extra,
  ];
}

export function httpProbe(path: string, port: number, periodS: number, failureThreshold: number): Json {
  return { httpGet: { path, port }, periodSeconds: periodS, timeoutSeconds: probeTimeoutS, failureThreshold };
}

export function resources(tier: keyof typeof resourcesByTier): Json {
  const r = resourcesByTier[tier];
  return { requests: { ...r.requests }, limits: { ...r.limits } };
}

export type Ports = { readonly tcp: readonly number[]; readonly udp: readonly number[] };

/**
 * The shell the init container runs. `addressScript` sets ADDR (a store pod derives it from
 * its ordinal). Traffic already addressed to the planet address (routed to the pod) is
 * left alone; a restarted pod gets a fresh network namespace, so the script never meets
 * its own earlier rules.
 */
/** A second planet address of a pod (a DNS server's management address .7.k) and the TCP ports that go to it. */
export type ExtraAddress = { readonly address: string; readonly tcp: readonly number[] };

export function netinitScript(addressScript: string, ports: Ports, extra: readonly ExtraAddress[] = []): string {
  const rule = (proto: string, list: readonly number[]) =>
    list.length === 0
      ? ""
      : `      iifname != "lo" fib daddr type local ip daddr != $ADDR ${proto} dport { ${list.join(", ")} } dnat to $ADDR\n`;
  return [
    "set -eu",
    addressScript,
    'ip addr add "$ADDR/32" dev lo',
    ...extra.map((x) => `ip addr add "${x.address}/32" dev lo`),
    "nft -f - <<EOF",
    "table ip redshirt {",
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    `${rule("tcp", ports.tcp)}${rule("udp", ports.udp)}${extra
      .map(
        (x) =>
          `      iifname != "lo" fib daddr type local ip daddr != ${x.address} tcp dport { ${x.tcp.join(", ")} } dnat to ${x.address}\n`,
      )
      .join("")}  }`,
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    '    oifname != "lo" ip saddr $ADDR masquerade',
    ...extra.map((x) => `    oifname != "lo" ip saddr ${x.address} masquerade`),
    "  }",
    "}",
    "EOF",
    'echo "planet address $ADDR joined to the pod"',
  ].join("\n");
}

export function netinitContainer(
  image: string,
  addressScript: string,
  ports: Ports,
  extra: readonly ExtraAddress[] = [],
): Json {
  return {
    name: "planet-address",
    image,
    imagePullPolicy: "IfNotPresent",
    command: ["/bin/sh", "-c", netinitScript(addressScript, ports, extra)],
    resources: resources("netinit"),
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
    },
  };
}

/** Spread a tier's pods over the cluster's nodes where the scheduler can. */
export function spread(site: string, tier: string): Json[] {
  return [
    {
      maxSkew: 1,
      topologyKey: "kubernetes.io/hostname",
      whenUnsatisfiable: "ScheduleAnyway",
      labelSelector: { matchLabels: { [labelSite]: site, [labelTier]: tier } },
    },
  ];
}
