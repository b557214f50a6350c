// render: the planet's site as another engine's workloads — Kubernetes manifests (a cluster
// per site) and systemd units (a host per site) — so the store, gateways, DNS and apps run
// without our supervisor. What each rendered process needs to find the others (the planet
// file, its secret, REDSHIRT_SITE) is in what is rendered; instances register themselves.
export * as renderConstants from "./constants.ts";
export { renderErrors } from "./errors.ts";
export { type KubernetesOptions, type Manifest, renderKubernetes, secretPlaceholder } from "./kubernetes.ts";
export { renderedPlanetText, type SitePlan, sitePlan } from "./plan.ts";
export {
  appTemplateName,
  processUnitName,
  type RenderedFiles,
  renderSystemd,
  type SystemdOptions,
  targetName,
} from "./systemd.ts";
export {
  expandSpecifiers,
  expandVariables,
  parseUnit,
  splitWords,
  timeSpanMs,
  type UnitCommand,
  type UnitFile,
  unitCommand,
} from "./unit-file.ts";
