// `redshirt render kubernetes`: the manifests of one site, for a cluster that is that
// site. Store nodes are a StatefulSet (the node id from the pod's ordinal, a volume each,
// a disruption budget that keeps every partition's local quorum); gateways, DNS servers
// and the app are Deployments. Each planet address (store node, gateway, DNS server) is a
// LoadBalancer Service that the cluster's load balancer announces on the routed network:
// the other sites and the users reach it there, as on any other host of the planet. The
// other sites are plain routed addresses (a Service without selector and its
// EndpointSlice): no stretched L2, no multi-cluster mesh.

import { dnsAdminOf, topologyConstants } from "../topology/index.ts";
import {
  appVersionDefault,
  gatewayPreStopSleepMs,
  gatewayTerminationGraceMs,
  livenessFailureThreshold,
  livenessPeriodS,
  readinessFailureThreshold,
  readinessPeriodS,
  stopGraceMsByTier,
} from "./constants.ts";
import { renderErrors } from "./errors.ts";
import { graceS, type KubernetesOptions, lbService, type Manifest, meta } from "./k8s-objects.ts";
import { storeManifests } from "./kubernetes-store.ts";
import { dnsAdminPort, type SitePlan, storePeerPort } from "./plan.ts";
import {
  baseMounts,
  baseVolumes,
  containerSecurity,
  type ExtraAddress,
  env,
  httpProbe,
  type Json,
  labelSite,
  labelSlot,
  labels,
  labelTier,
  netinitContainer,
  planetFileInPod,
  podDefaults,
  resources,
  spread,
} from "./pod-parts.ts";

export type { KubernetesOptions, Manifest } from "./k8s-objects.ts";

export const secretPlaceholder = "REPLACE-ME-with-the-64-hex-digits-of-the-planet-secret";

function slottedDeployment(
  o: KubernetesOptions,
  p: SitePlan,
  tier: "gateway" | "dns",
  n: { id: string; host: string; index: number },
  container: Json,
  graceMs: number,
  extra: readonly ExtraAddress[] = [],
): Json {
  const l = labels(p.site.name, tier, { [labelSlot]: n.id });
  const elsewhere = new Set(extra.flatMap((x) => x.tcp));
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(o, n.id, l),
    spec: {
      replicas: 1,
      // A new pod is ready on the same planet address before the old one leaves.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      selector: { matchLabels: { [labelSite]: p.site.name, [labelTier]: tier, [labelSlot]: n.id } },
      template: {
        metadata: { labels: l },
        spec: {
          ...podDefaults(),
          terminationGracePeriodSeconds: graceS(graceMs),
          initContainers: [
            netinitContainer(
              o.image,
              `ADDR=${n.host}`,
              {
                tcp: (container.ports as { containerPort: number; protocol: string }[])
                  .filter((q) => q.protocol === "TCP" && !elsewhere.has(q.containerPort))
                  .map((q) => q.containerPort),
                udp: (container.ports as { containerPort: number; protocol: string }[])
                  .filter((q) => q.protocol === "UDP")
                  .map((q) => q.containerPort),
              },
              extra,
            ),
          ],
          containers: [container],
          volumes: baseVolumes(),
        },
      },
    },
  };
}

function gatewayManifests(o: KubernetesOptions, p: SitePlan): Manifest[] {
  const site = p.site.name;
  const port = p.planet.ports.gateway;
  return p.gateways.flatMap((g) => {
    const container: Json = {
      name: "gateway",
      image: o.image,
      imagePullPolicy: "IfNotPresent",
      args: ["gateway", "--planet", planetFileInPod, "--site", site, "--index", String(g.index)],
      env: env(site, "gateway", o.platformVersion, [
        { name: "REDSHIRT_INSTANCE_ID", value: g.id },
        // The image's entrypoint (bin/redshirt) execs node: the gateway's V8 flags go this way.
        { name: "NODE_OPTIONS", value: topologyConstants.gatewayNodeFlags.join(" ") },
      ]),
      ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
      // Not /_redshirt/healthz: it says "this site can serve" and answers 503 while the site has
      // no app instance (scaled to 0 for the night, evacuated), when the gateway must stay in
      // the load balancer to forward users with a cached DNS answer to another site. A stopping
      // pod leaves the Service's endpoints because it terminates, whatever its readiness.
      readinessProbe: httpProbe("/_redshirt/livez", port, readinessPeriodS, readinessFailureThreshold),
      livenessProbe: httpProbe("/_redshirt/livez", port, livenessPeriodS, livenessFailureThreshold),
      lifecycle: { preStop: { exec: { command: ["sleep", String(graceS(gatewayPreStopSleepMs))] } } },
      resources: resources("gateway"),
      securityContext: containerSecurity(),
      volumeMounts: baseMounts(),
    };
    return [
      {
        comment: `Gateway ${g.id}. Stop: preStop waits ${gatewayPreStopSleepMs} ms (the load balancer stops sending new connections), then SIGTERM starts the gateway's own drain (healthz 503 until the DNS dropped it, then requests in flight finish); SIGKILL only after ${gatewayTerminationGraceMs} ms.`,
        object: slottedDeployment(o, p, "gateway", g, container, gatewayTerminationGraceMs),
      },
      {
        comment: `Gateway ${g.id} at its planet address ${g.host}: the DNS answers users with it, and other sites fail over to it.`,
        object: lbService(
          o,
          p,
          g.id,
          "gateway",
          g.host,
          [{ name: "http", port, targetPort: port, protocol: "TCP" }],
          { [labelSite]: site, [labelTier]: "gateway", [labelSlot]: g.id },
          false,
        ),
      },
    ];
  });
}

function dnsManifests(o: KubernetesOptions, p: SitePlan): Manifest[] {
  const site = p.site.name;
  const port = p.planet.ports.dns;
  const admin = dnsAdminPort(p.planet);
  return p.dnsServers.flatMap((d) => {
    const container: Json = {
      name: "dns",
      image: o.image,
      imagePullPolicy: "IfNotPresent",
      args: ["dns", "--planet", planetFileInPod, "--site", site, "--index", String(d.index)],
      env: env(site, "dns", o.platformVersion, [{ name: "REDSHIRT_INSTANCE_ID", value: d.id }]),
      ports: [
        { name: "dns-udp", containerPort: port, protocol: "UDP" },
        { name: "dns-tcp", containerPort: port, protocol: "TCP" },
        { name: "admin", containerPort: admin, protocol: "TCP" },
      ],
      readinessProbe: httpProbe("/healthz", admin, readinessPeriodS, readinessFailureThreshold),
      livenessProbe: httpProbe("/healthz", admin, livenessPeriodS, livenessFailureThreshold),
      resources: resources("dns"),
      securityContext: containerSecurity(),
      volumeMounts: baseMounts(),
    };
    const ports: Json[] = [
      { name: "dns-udp", port: 53, targetPort: port, protocol: "UDP" },
      { name: "dns-tcp", port: 53, targetPort: port, protocol: "TCP" },
    ];
    // The planet's own DNS port too, where the other sites' DNS servers read this one's view.
    if (port !== 53) {
      ports.push(
        { name: "planet-dns-udp", port, targetPort: port, protocol: "UDP" },
        { name: "planet-dns-tcp", port, targetPort: port, protocol: "TCP" },
      );
    }
    // The admin endpoint (weights, views, health) listens on the server's management address
    // .7.k, never the public one: the pod joins both, and each has its own Service.
    const adminHost = dnsAdminOf(p.planet, d).host;
    const selector = { [labelSite]: site, [labelTier]: "dns", [labelSlot]: d.id };
    return [
      {
        comment: `GSLB DNS server ${d.id} (zone ${p.planet.zone}); delegate the zone to its planet address ${d.host}.`,
        object: slottedDeployment(o, p, "dns", d, container, stopGraceMsByTier.dns, [
          { address: adminHost, tcp: [admin] },
        ]),
      },
      {
        comment: `DNS ${d.id}'s admin endpoint at its management address ${adminHost}: keep it off the public network (only the planet's sites need it).`,
        object: lbService(
          o,
          p,
          `${d.id}-admin`,
          "dns",
          adminHost,
          [{ name: "admin", port: admin, targetPort: admin, protocol: "TCP" }],
          selector,
          false,
        ),
      },
      {
        comment: `DNS ${d.id} at ${d.host}: port 53 over UDP and TCP for resolvers, the planet's port ${port} for its peers.`,
        object: lbService(o, p, d.id, "dns", d.host, ports, selector, false),
      },
    ];
  });
}

function appManifest(o: KubernetesOptions, p: SitePlan): Manifest {
  const site = p.site.name;
  const port = p.planet.ports.app;
  const l = labels(site, "app");
  return {
    comment: `The app: cattle. Each pod registers itself in ${site}'s registry (a lease in the store) under its pod name, on its pod address; the gateways find it there. On SIGTERM the SDK marks the lease draining, keeps serving for 1 s, lets requests finish (up to 10 s) and exits, so no preStop is needed: the gateways never learned of this pod from Kubernetes endpoints.`,
    object: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(o, "redshirt-app", l),
      spec: {
        replicas: p.site.tiers.app,
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } },
        selector: { matchLabels: { [labelSite]: site, [labelTier]: "app" } },
        template: {
          metadata: { labels: l },
          spec: {
            ...podDefaults(),
            terminationGracePeriodSeconds: graceS(stopGraceMsByTier.app),
            topologySpreadConstraints: spread(site, "app"),
            containers: [
              {
                name: "app",
                image: o.image,
                imagePullPolicy: "IfNotPresent",
                command: ["node", o.appEntry],
                env: env(site, "app", o.appVersion ?? appVersionDefault, [
                  { name: "REDSHIRT_INSTANCE_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                  { name: "HOST", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                  { name: "PORT", value: String(port) },
                ]),
                ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
                readinessProbe: httpProbe("/healthz", port, readinessPeriodS, readinessFailureThreshold),
                livenessProbe: httpProbe("/healthz", port, livenessPeriodS, livenessFailureThreshold),
                resources: resources("app"),
                securityContext: containerSecurity(),
                volumeMounts: baseMounts(),
              },
            ],
            volumes: baseVolumes(),
          },
        },
      },
    },
  };
}

function remoteSiteManifests(o: KubernetesOptions, p: SitePlan): Manifest[] {
  return p.others.flatMap((other) => {
    const name = `remote-${other.site.name}`;
    const l = labels(p.site.name, "remote", { "redshirt.dev/remote-site": other.site.name });
    const nodes = [...other.gateways, ...other.storeNodes, ...other.dnsServers];
    const ports = [
      { name: "gateway", port: p.planet.ports.gateway, protocol: "TCP" },
      { name: "store", port: p.planet.ports.store, protocol: "TCP" },
      { name: "store-peer", port: storePeerPort(p.planet), protocol: "TCP" },
      { name: "dns-udp", port: p.planet.ports.dns, protocol: "UDP" },
      { name: "dns-tcp", port: p.planet.ports.dns, protocol: "TCP" },
    ];
    return [
      {
        comment: `Site ${other.site.name} (${other.site.city}), ${other.site.subnetCidr.text}: reached over the routed WAN at its planet addresses. Our processes dial those addresses themselves; this Service names them in the cluster (e.g. ${nodes[0]?.id}.${name}.${o.namespace}.svc) for monitoring and network policy.`,
        object: {
          apiVersion: "v1",
          kind: "Service",
          metadata: meta(o, name, l),
          spec: { clusterIP: "None", ports: ports.map((q) => ({ ...q, targetPort: q.port })) },
        },
      },
      {
        object: {
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: meta(o, `${name}-1`, {
            ...l,
            "kubernetes.io/service-name": name,
            "endpointslice.kubernetes.io/managed-by": "redshirt-render",
          }),
          addressType: "IPv4",
          ports,
          endpoints: nodes.map((n) => ({ addresses: [n.host], hostname: n.id, conditions: { ready: true } })),
        },
      },
    ];
  });
}

export function renderKubernetes(plan: SitePlan, o: KubernetesOptions): Manifest[] {
  if (plan.planet.wan.mode !== "direct") {
    throw renderErrors.create(
      "RS_ERR_RENDER_EMULATED_WAN",
      `wan.mode is ${plan.planet.wan.mode} in planet ${plan.planet.name}: a cluster per site needs wan.mode: direct and routed site subnets`,
    );
  }
  const site = plan.site.name;
  return [
    {
      object: {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: o.namespace, labels: labels(site, "namespace") },
      },
    },
    {
      comment: "The planet file, the same in every site (store.dataDir points at the mounted secret).",
      object: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: meta(o, "redshirt-planet", labels(site, "config")),
        data: { "planet.yaml": o.planetText },
      },
    },
    {
      comment:
        o.secret === undefined
          ? "The planet secret: the same 32 bytes (64 hex digits) in every site. FILL IT IN before applying: copy <dataDir>/planet.secret from the first site (or render with --with-secret). With the placeholder every process refuses to start (RS_ERR_CORE_NO_SECRET)."
          : "The planet secret, read from the planet's secret file (--with-secret): keep this file out of version control.",
      object: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: meta(o, "redshirt-planet-secret", labels(site, "config")),
        type: "Opaque",
        stringData: { "planet.secret": o.secret ?? secretPlaceholder },
      },
    },
    ...storeManifests(o, plan),
    appManifest(o, plan),
    ...gatewayManifests(o, plan),
    ...dnsManifests(o, plan),
    ...remoteSiteManifests(o, plan),
  ];
}
