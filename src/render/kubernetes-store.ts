// The store tier on Kubernetes: a StatefulSet whose pod ordinal is the store node's index
// (pod redshirt-store-k is node <site>-store<k+1>, on that node's planet address), a
// headless governing Service, a volume per node, a budget that keeps local quorum, and a
// LoadBalancer Service per node at its planet address.
import {
  livenessFailureThreshold,
  livenessPeriodS,
  podDataDir,
  readinessFailureThreshold,
  readinessPeriodS,
  stopGraceMsByTier,
  storeStartupFailureThreshold,
  storeVolumeSizeDefault,
} from "./constants.ts";
import { graceS, type KubernetesOptions, lbService, type Manifest, meta } from "./k8s-objects.ts";
import { type SitePlan, storePeerPort } from "./plan.ts";
import {
  baseMounts,
  baseVolumes,
  containerSecurity,
  env,
  httpProbe,
  labelSite,
  labels,
  labelTier,
  netinitContainer,
  planetFileInPod,
  podDefaults,
  resources,
  spread,
} from "./pod-parts.ts";

export function storeManifests(o: KubernetesOptions, p: SitePlan): Manifest[] {
  const site = p.site.name;
  const http = p.planet.ports.store;
  const peer = storePeerPort(p.planet);
  const l = labels(site, "store");
  const rf = p.planet.store.rf;
  const quorum = Math.floor(rf / 2) + 1;
  const byOrdinal = p.storeNodes.map((n, k) => `${k}) ADDR=${n.host} ;;`).join(" ");
  const addressScript = `case "\${HOSTNAME##*-}" in ${byOrdinal} *) echo "no planet store node for pod $HOSTNAME" >&2; exit 1 ;; esac`;
  const nodeOf = `${site}-store$(( \${HOSTNAME##*-} + 1 ))`;
  const out: Manifest[] = [
    {
      comment: `The store's governing Service: stable pod names redshirt-store-0… (pod k is store node ${site}-store<k+1>).`,
      object: {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta(o, "redshirt-store", l),
        spec: {
          clusterIP: "None",
          publishNotReadyAddresses: true,
          selector: { [labelSite]: site, [labelTier]: "store" },
          ports: [
            { name: "http", port: http, targetPort: http, protocol: "TCP" },
            { name: "peer", port: peer, targetPort: peer, protocol: "TCP" },
          ],
        },
      },
    },
    {
      comment: `Store nodes: the node id and planet address come from the pod's ordinal; its SQLite file lives on its own volume. A SIGTERM stops a node within ${stopGraceMsByTier.store} ms (requests in flight finish, the file closes).`,
      object: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: meta(o, "redshirt-store", l),
        spec: {
          serviceName: "redshirt-store",
          replicas: p.storeNodes.length,
          // Nodes find each other by the planet file, not by start order: start them together.
          podManagementPolicy: "Parallel",
          updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
          selector: { matchLabels: { [labelSite]: site, [labelTier]: "store" } },
          template: {
            metadata: { labels: l },
            spec: {
              ...podDefaults(),
              terminationGracePeriodSeconds: graceS(stopGraceMsByTier.store),
              topologySpreadConstraints: spread(site, "store"),
              initContainers: [netinitContainer(o.image, addressScript, { tcp: [http, peer], udp: [] })],
              containers: [
                {
                  name: "store",
                  image: o.image,
                  imagePullPolicy: "IfNotPresent",
                  command: [
                    "/bin/sh",
                    "-c",
                    `exec /opt/redshirt/bin/redshirt store --planet ${planetFileInPod} --node ${nodeOf} --data-dir ${podDataDir}/store`,
                  ],
                  env: env(site, "store", o.platformVersion),
                  ports: [
                    { name: "http", containerPort: http, protocol: "TCP" },
                    { name: "peer", containerPort: peer, protocol: "TCP" },
                  ],
                  startupProbe: httpProbe("/healthz", http, readinessPeriodS, storeStartupFailureThreshold),
                  readinessProbe: httpProbe("/healthz", http, readinessPeriodS, readinessFailureThreshold),
                  livenessProbe: httpProbe("/healthz", http, livenessPeriodS, livenessFailureThreshold),
                  resources: resources("store"),
                  securityContext: containerSecurity(),
                  volumeMounts: [...baseMounts(), { name: "data", mountPath: podDataDir }],
                },
              ],
              volumes: baseVolumes(),
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: "data", labels: l },
              spec: {
                accessModes: ["ReadWriteOnce"],
                resources: { requests: { storage: o.storeVolumeSize ?? storeVolumeSizeDefault } },
              },
            },
          ],
        },
      },
    },
    {
      comment: `Each partition lives on rf=${rf} of the site's nodes and needs ${quorum} for local-quorum: at most ${rf - quorum} node(s) may be taken down on purpose at a time.`,
      object: {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: meta(o, "redshirt-store", l),
        spec: {
          maxUnavailable: Math.max(0, rf - quorum),
          selector: { matchLabels: { [labelSite]: site, [labelTier]: "store" } },
        },
      },
    },
  ];
  p.storeNodes.forEach((n, k) => {
    out.push({
      comment: `Store node ${n.id} at its planet address ${n.host}: peers in every site replicate to it there.`,
      object: lbService(
        o,
        p,
        n.id,
        "store",
        n.host,
        [
          { name: "http", port: http, targetPort: http, protocol: "TCP" },
          { name: "peer", port: peer, targetPort: peer, protocol: "TCP" },
        ],
        { "statefulset.kubernetes.io/pod-name": `redshirt-store-${k}` },
        true,
      ),
    });
  });
  return out;
}
