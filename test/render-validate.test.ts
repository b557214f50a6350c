// `redshirt render` for every site of the demo planet, checked by the engines' own rules:
// the Kubernetes manifests against the Kubernetes API schemas (kubernetes-models: types,
// required fields, enums), the systemd units by `systemd-analyze verify`. And what the
// schemas cannot see: the store's quorum budget, the grace periods against our drain
// timers, the DNS on UDP and TCP 53, the other sites as routed endpoints.
// No process is started and no address bound here.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { EndpointSlice } from "kubernetes-models/discovery.k8s.io/v1/EndpointSlice";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { parseAllDocuments } from "yaml";
import { supervisorConstants } from "../src/cattle/index.ts";
import { run as render } from "../src/cli/render-command.ts";
import { loadPlanetSecret } from "../src/core/index.ts";
import { secretPlaceholder } from "../src/render/index.ts";
import { dnsAdminOf, loadPlanet } from "../src/topology/index.ts";
import { gatewayStopMsMax } from "../src/traffic/index.ts";

const repo = resolve(import.meta.dirname, "..");
const hostsPlanet = join(repo, "examples/planet-hosts.yaml");
const demoPlanet = join(repo, "examples/planet.yaml");

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests read back as loose JSON
type Obj = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: any };
const models: Record<string, new (o: never) => { validate(): void }> = {
  "apps/v1/StatefulSet": StatefulSet,
  "apps/v1/Deployment": Deployment,
  "discovery.k8s.io/v1/EndpointSlice": EndpointSlice,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "v1/ConfigMap": ConfigMap,
  "v1/Namespace": Namespace,
  "v1/Secret": Secret,
  "v1/Service": Service,
};

function validate(o: Obj): void {
  const Model = models[`${o.apiVersion}/${o.kind}`];
  assert.ok(Model, `no schema model for ${o.apiVersion} ${o.kind}`);
  new Model(o as never).validate();
}

async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = write;
  }
}

async function renderKubernetes(site: string, dir: string): Promise<Obj[]> {
  assert.equal(await quietly(() => render(["kubernetes", "--planet", hostsPlanet, "--site", site, "--out", dir])), 0);
  const text = readFileSync(join(dir, `redshirt-${site}.yaml`), "utf8");
  // Plain YAML: no anchors or aliases, which some tools in a deploy pipeline do not follow.
  assert.doesNotMatch(text, /: [&*][A-Za-z]\w*$/m);
  const docs = parseAllDocuments(text);
  return (Array.isArray(docs) ? docs : [docs]).map((d) => {
    assert.deepEqual(d.errors, [], "the rendered YAML parses");
    return d.toJS() as Obj;
  });
}

test("render - kubernetes manifests of every site of the demo planet pass the Kubernetes API schemas", async () => {
  const planet = loadPlanet(hostsPlanet);
  const dir = mkdtempSync(join(tmpdir(), "rs-render-k8s-"));
  try {
    // The validator can fail: a port that is not a number is refused.
    assert.throws(() =>
      validate({ apiVersion: "v1", kind: "Service", metadata: { name: "x" }, spec: { ports: [{ port: "x" }] } }),
    );
    for (const site of planet.sites) {
      const objs = await renderKubernetes(site.name, dir);
      for (const o of objs) validate(o);
      const byKind = (kind: string) => objs.filter((o) => o.kind === kind);
      const named = (kind: string, name: string) => {
        const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
        assert.ok(o, `${kind} ${name} rendered for ${site.name}`);
        return o;
      };
      // Store: one StatefulSet, a volume per node, a budget that keeps local quorum (rf 3: one down at a time).
      const sts = named("StatefulSet", "redshirt-store");
      assert.equal(sts.spec.replicas, site.tiers.store);
      assert.equal(sts.spec.serviceName, "redshirt-store");
      assert.equal(named("Service", "redshirt-store").spec.clusterIP, "None");
      assert.equal(sts.spec.volumeClaimTemplates.length, 1);
      const storeCmd = sts.spec.template.spec.containers[0].command.join(" ");
      assert.match(storeCmd, new RegExp(`--node ${site.name}-store\\$\\(\\( \\$\\{HOSTNAME##\\*-\\} \\+ 1 \\)\\)`));
      assert.equal(named("PodDisruptionBudget", "redshirt-store").spec.maxUnavailable, 1);
      assert.equal(
        sts.spec.template.spec.terminationGracePeriodSeconds * 1000,
        supervisorConstants.stopGraceMsByTier.store,
      );
      for (const n of planet.storeNodes.filter((x) => x.site === site.name)) {
        const svc = named("Service", n.id);
        assert.equal(svc.spec.loadBalancerIP, n.host);
        assert.deepEqual(svc.spec.selector, { "statefulset.kubernetes.io/pod-name": `redshirt-store-${n.index - 1}` });
        assert.match(
          sts.spec.template.spec.initContainers[0].command[2],
          new RegExp(`${n.index - 1}\\) ADDR=${n.host.replaceAll(".", "\\.")} ;;`),
        );
      }
      // Gateways: ready while the process serves (not healthz: a site with 0 apps still forwards), a preStop, a grace that holds preStop + the gateway's own stop.
      for (const g of planet.gateways.filter((x) => x.site === site.name)) {
        const pod = named("Deployment", g.id).spec.template.spec;
        const c = pod.containers[0];
        assert.equal(c.readinessProbe.httpGet.path, "/_redshirt/livez");
        const preStopS = Number(c.lifecycle.preStop.exec.command[1]);
        assert.ok(
          pod.terminationGracePeriodSeconds * 1000 > preStopS * 1000 + gatewayStopMsMax,
          "grace covers preStop and drain",
        );
        assert.equal(named("Service", g.id).spec.loadBalancerIP, g.host);
        // The gateway's small young generation (its p99), as the supervisor runs it.
        const nodeOptions = c.env.find((e: { name: string }) => e.name === "NODE_OPTIONS");
        assert.equal(nodeOptions?.value, "--max-semi-space-size=1");
      }
      // DNS: a Service on port 53 over both UDP and TCP.
      for (const d of planet.dnsServers.filter((x) => x.site === site.name)) {
        const ports = named("Service", d.id).spec.ports.filter((p: { port: number }) => p.port === 53);
        assert.deepEqual(ports.map((p: { protocol: string }) => p.protocol).sort(), ["TCP", "UDP"]);
        // The admin endpoint is on the management address .7.k, never the public one: the pod
        // joins it too (its probes ask the admin port), and a Service of its own announces it.
        const admin = dnsAdminOf(planet, d);
        const adminSvc = named("Service", `${d.id}-admin`).spec;
        assert.equal(adminSvc.loadBalancerIP, admin.host);
        assert.deepEqual(
          adminSvc.ports.map((p: { port: number }) => p.port),
          [admin.port],
        );
        assert.ok(
          !named("Service", d.id).spec.ports.some((p: { port: number }) => p.port === admin.port),
          "no admin port on the public address",
        );
        const pod = named("Deployment", d.id).spec.template.spec;
        const script = pod.initContainers[0].command[2] as string;
        assert.match(script, new RegExp(`ip addr add "${admin.host.replaceAll(".", "\\.")}/32" dev lo`));
        assert.match(
          script,
          new RegExp(`tcp dport \\{ ${admin.port} \\} dnat to ${admin.host.replaceAll(".", "\\.")}`),
        );
        assert.equal(pod.containers[0].readinessProbe.httpGet.port, admin.port);
      }
      // App: registers under its pod name on its pod address; readiness on /healthz; requests and limits.
      const app = named("Deployment", "redshirt-app").spec.template.spec.containers[0];
      const envOf = (name: string) => app.env.find((e: { name: string }) => e.name === name);
      assert.equal(envOf("REDSHIRT_SITE").value, site.name);
      assert.equal(envOf("HOST").valueFrom.fieldRef.fieldPath, "status.podIP");
      assert.equal(envOf("REDSHIRT_INSTANCE_ID").valueFrom.fieldRef.fieldPath, "metadata.name");
      assert.equal(app.readinessProbe.httpGet.path, "/healthz");
      for (const d of [...byKind("Deployment"), ...byKind("StatefulSet")])
        for (const c of d.spec.template.spec.containers)
          assert.ok(c.resources.requests.cpu && c.resources.limits.memory, `${d.metadata.name} resources`);
      // The secret is a placeholder unless asked for; the planet file points at where it is mounted.
      assert.equal(named("Secret", "redshirt-planet-secret").stringData["planet.secret"], secretPlaceholder);
      assert.match(named("ConfigMap", "redshirt-planet").data["planet.yaml"], /dataDir: \/etc\/redshirt\/secret/);
      // The other sites: routed addresses, a selector-less Service and its EndpointSlice each.
      for (const other of planet.sites.filter((s) => s.name !== site.name)) {
        assert.equal(named("Service", `remote-${other.name}`).spec.selector, undefined);
        const slice = named("EndpointSlice", `remote-${other.name}-1`);
        const expected = [...planet.gateways, ...planet.storeNodes, ...planet.dnsServers]
          .filter((n) => n.site === other.name)
          .map((n) => n.host)
          .sort();
        assert.deepEqual(slice.endpoints.flatMap((e: { addresses: string[] }) => e.addresses).sort(), expected);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("render - kubernetes --with-secret puts the planet's secret file into the Secret, and only then", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rs-render-secret-"));
  try {
    writeFileSync(
      join(dir, "planet.yaml"),
      readFileSync(hostsPlanet, "utf8").replace(/dataDir: [^ ,}]+/, "dataDir: data"),
    );
    const secret = loadPlanetSecret(join(dir, "data"), { create: true }).toString("hex");
    const planetFile = join(dir, "planet.yaml");
    const secretOf = async (extra: string[]) => {
      await quietly(() => render(["kubernetes", "--planet", planetFile, "--site", "lon", "--out", dir, ...extra]));
      const docs = parseAllDocuments(readFileSync(join(dir, "redshirt-lon.yaml"), "utf8")).map((d) => d.toJS() as Obj);
      return docs.find((o) => o.kind === "Secret")?.stringData["planet.secret"];
    };
    assert.equal(await secretOf(["--with-secret"]), secret);
    assert.equal(await secretOf([]), secretPlaceholder);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("render - kubernetes refuses a planet whose WAN is emulated, naming wan.mode", async () => {
  await assert.rejects(
    () => render(["kubernetes", "--planet", demoPlanet, "--site", "nyc"]),
    (e: Error & { code?: string }) => e.code === "RS_ERR_RENDER_EMULATED_WAN" && /wan\.mode/.test(e.message),
  );
});

/** systemd before 254 does not know the growing back-off keys; it warns and restarts at RestartSec, never giving up. */
function systemdVersion(): number {
  const out = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
  return Number(/systemd (\d+)/.exec(out.stdout)?.[1] ?? 0);
}

function verify(dir: string, units: readonly string[]) {
  return spawnSync("systemd-analyze", ["verify", "--man=no", ...units.map((u) => join(dir, u))], {
    cwd: dir,
    encoding: "utf8",
  });
}

test("render - systemd units of every site of the demo planet pass systemd-analyze verify", async (t) => {
  const version = systemdVersion();
  if (version === 0) return t.skip("systemd-analyze is not installed");
  const nodeBin = join(repo, "node_modules/.bin/node");
  // The check can fail: a unit whose ExecStart names no binary is refused.
  const broken = mkdtempSync(join(tmpdir(), "rs-render-systemd-"));
  try {
    assert.equal(
      await quietly(() =>
        render([
          "systemd",
          "--planet",
          hostsPlanet,
          "--site",
          "nyc",
          "--out",
          broken,
          "--install-dir",
          repo,
          "--config-dir",
          broken,
          "--node",
          "/nonexistent dir/node",
        ]),
      ),
      0,
    );
    const r = verify(broken, ["redshirt-nyc-store1.service"]);
    assert.notEqual(r.status, 0);
    // …and systemd reads the quoted path as one word, as the renderer meant it.
    assert.match(`${r.stdout}${r.stderr}`, /Command \/nonexistent dir\/node is not executable/);
  } finally {
    rmSync(broken, { recursive: true, force: true });
  }
  for (const planetFile of [demoPlanet, hostsPlanet]) {
    for (const site of loadPlanet(planetFile).sites) {
      const dir = mkdtempSync(join(tmpdir(), "rs-render-systemd-"));
      try {
        const args = ["systemd", "--planet", planetFile, "--site", site.name, "--out", dir];
        assert.equal(
          await quietly(() => render([...args, "--install-dir", repo, "--config-dir", dir, "--node", nodeBin])),
          0,
        );
        const units = readdirSync(dir).filter((f) => /\.(service|target)$/.test(f));
        // Verify the app template through the instances the target wants.
        const names = [
          ...units.filter((u) => !u.endsWith("@.service")),
          ...Array.from({ length: site.tiers.app }, (_, k) => `redshirt-app-${site.name}@${k + 1}.service`),
        ];
        const r = verify(dir, names);
        const problems = `${r.stdout}${r.stderr}`
          .split("\n")
          .filter((l) => l.trim() !== "")
          .filter((l) => !(version < 254 && /Unknown key '(RestartSteps|RestartMaxDelaySec)'/.test(l)));
        assert.equal(r.status, 0, `systemd-analyze verify failed for ${site.name}: ${r.stderr}`);
        assert.deepEqual(problems, [], `systemd-analyze verify reported problems for ${site.name} of ${planetFile}`);
        assert.equal(units.includes(`redshirt-site-${site.name}.target`), true);
        // The sandbox, as systemd scores it (0 is a locked box, 10 none): "OK" is below 4.
        for (const u of units.filter((x) => x.endsWith(".service"))) {
          const sec = spawnSync("systemd-analyze", ["security", "--offline=yes", join(dir, u)], { encoding: "utf8" });
          const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(`${sec.stdout}${sec.stderr}`)?.[1]);
          assert.ok(level <= 2, `${u}: exposure ${level} (systemd-analyze security), want ≤ 2`);
        }
        assert.equal(
          units.some((u) => u.includes("-wan1.")),
          loadPlanet(planetFile).wan.mode === "emulated",
          "a WAN unit exactly when the WAN is emulated",
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
});
