// `redshirt render kubernetes|systemd --site NAME [--planet FILE] [--out DIR] …`: one
// site of the planet as another engine's workloads (src/render). Without --out the result
// goes to stdout (Kubernetes: one multi-document YAML; systemd: each file after a
// `# file: NAME` line).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Document } from "yaml";
import { loadPlanetSecret } from "../core/index.ts";
import {
  type Manifest,
  renderConstants,
  renderErrors,
  renderedPlanetText,
  renderKubernetes,
  renderSystemd,
  sitePlan,
} from "../render/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

const engines = ["kubernetes", "systemd"] as const;
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const platformVersion: string = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version;

export function manifestsYaml(manifests: readonly Manifest[]): string {
  return manifests
    .map((m) => {
      const doc = new Document(m.object, { aliasDuplicateObjects: false });
      if (m.comment) doc.commentBefore = ` ${m.comment}`;
      return doc.toString({ lineWidth: 0 });
    })
    .join("---\n");
}

function absolute(option: string, path: string): string {
  if (!isAbsolute(path)) {
    throw renderErrors.create(
      "RS_ERR_RENDER_BAD_OPTION",
      `--${option} ${JSON.stringify(path)}: must be an absolute path`,
    );
  }
  return path;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("render", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    site: { type: "string" },
    out: { type: "string" },
    image: { type: "string", default: renderConstants.imageDefault },
    namespace: { type: "string", default: renderConstants.namespaceDefault },
    "with-secret": { type: "boolean", default: false },
    app: { type: "string" },
    "app-version": { type: "string", default: renderConstants.appVersionDefault },
    "install-dir": { type: "string", default: renderConstants.installDirDefault },
    "config-dir": { type: "string", default: renderConstants.configDirDefault },
    node: { type: "string", default: renderConstants.nodeBinDefault },
    "store-volume-size": { type: "string" },
  });
  const engine = positionals[0];
  if (positionals.length !== 1 || !(engines as readonly string[]).includes(engine)) {
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      `render: the engine must be one of ${engines.join(", ")} (got ${JSON.stringify(positionals.join(" "))}), e.g. redshirt render kubernetes --site nyc`,
    );
  }
  if (!values.site)
    throw cliErrors.create("RS_ERR_CLI_USAGE", "render: --site NAME is required (a site of the planet)");
  const planetFile = resolve(values.planet);
  const planet = loadPlanet(planetFile);
  const plan = sitePlan(planet, values.site);
  const planetText = readFileSync(planetFile, "utf8");
  if (values["store-volume-size"] !== undefined && !/^[1-9][0-9]*(Mi|Gi|Ti)$/.test(values["store-volume-size"])) {
    throw renderErrors.create("RS_ERR_RENDER_BAD_OPTION", "--store-volume-size must be like 20Gi (Mi, Gi or Ti)");
  }
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(values.namespace)) {
    throw renderErrors.create(
      "RS_ERR_RENDER_BAD_OPTION",
      `--namespace ${JSON.stringify(values.namespace)}: must be a DNS label`,
    );
  }
  let files: Map<string, string>;
  if (engine === "kubernetes") {
    const secret = values["with-secret"]
      ? loadPlanetSecret(resolve(planet.baseDir, planet.store.dataDir)).toString("hex")
      : undefined;
    const manifests = renderKubernetes(plan, {
      image: values.image,
      namespace: values.namespace,
      planetText: renderedPlanetText(planetText, renderConstants.podSecretDir),
      secret,
      appEntry: values.app ?? join(renderConstants.installDirDefault, renderConstants.appEntryDefault),
      appVersion: values["app-version"],
      platformVersion,
      storeVolumeSize: values["store-volume-size"],
    });
    files = new Map([[`redshirt-${plan.site.name}.yaml`, manifestsYaml(manifests)]]);
  } else {
    const installDir = absolute("install-dir", values["install-dir"]);
    const configDir = absolute("config-dir", values["config-dir"]);
    files = new Map(
      renderSystemd(plan, {
        installDir,
        configDir,
        nodeBin: absolute("node", values.node),
        appEntry: values.app ? absolute("app", values.app) : join(installDir, renderConstants.appEntryDefault),
        appVersion: values["app-version"],
        platformVersion,
      }),
    );
    files.set("planet.yaml", renderedPlanetText(planetText, configDir));
  }
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    for (const [name, text] of files) writeFileSync(join(values.out, name), text);
    process.stdout.write(`${[...files.keys()].map((f) => join(values.out ?? ".", f)).join("\n")}\n`);
  } else if (engine === "kubernetes") {
    process.stdout.write([...files.values()].join(""));
  } else {
    for (const [name, text] of files) process.stdout.write(`# file: ${name}\n${text}\n`);
  }
  return 0;
}
