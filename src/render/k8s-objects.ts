// What every Kubernetes object of a site shares: the render options, metadata, and the
// LoadBalancer Service that puts one planet address on the routed network.
import type { SitePlan } from "./plan.ts";
import { type Json, labels } from "./pod-parts.ts";

export type KubernetesOptions = {
  readonly image: string;
  readonly namespace: string;
  /** The planet file as the pods read it (renderedPlanetText). */
  readonly planetText: string;
  /** The planet secret (64 hex digits), or undefined for a placeholder the operator fills. */
  readonly secret: string | undefined;
  /** The app's entry file inside the image. */
  readonly appEntry: string;
  readonly appVersion?: string;
  readonly platformVersion: string;
  readonly storeVolumeSize?: string;
};

/** One manifest, with the comment printed above it. */
export type Manifest = { readonly object: Json; readonly comment?: string };

export const graceS = (ms: number) => Math.ceil(ms / 1000);

export function meta(o: KubernetesOptions, name: string, l: Record<string, string>, extra: Json = {}): Json {
  return { name, namespace: o.namespace, labels: l, ...extra };
}

export function lbService(
  o: KubernetesOptions,
  p: SitePlan,
  name: string,
  tier: string,
  address: string,
  ports: Json[],
  selector: Record<string, string>,
  notReady: boolean,
): Json {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(o, name, labels(p.site.name, tier), {
      annotations: {
        "redshirt.dev/planet-address": address,
        // MetalLB and Cilium LB-IPAM read the address from their own annotation.
        "metallb.io/loadBalancerIPs": address,
        "lbipam.cilium.io/ips": address,
      },
    }),
    spec: {
      type: "LoadBalancer",
      loadBalancerIP: address,
      // Keeps the client's source address: the GSLB DNS locates a resolver by it (when it sends no ECS).
      externalTrafficPolicy: "Local",
      publishNotReadyAddresses: notReady,
      selector,
      ports,
    },
  };
}
