// The `planet-address` init container of the rendered Kubernetes manifests, on a real
// kernel: its script (taken from the rendered manifest, run with /bin/sh as the container
// runs it) in a network namespace standing for a pod, and a second namespace standing for
// the cluster node that delivers Service traffic to the pod's own address (as kube-proxy
// does after its DNAT) and runs the kubelet's probes. It shows: TCP and UDP sent to the pod
// address reach a process bound only to the planet address; a store pod takes the address
// of its ordinal; what the process sends from the planet address leaves from the pod's.
// Without the script's two NAT rules the connect to the pod address is refused and the
// reply to a planet-address source has no route back, so each check below would fail.
// Skips (saying why) where namespaces cannot be made; as root here, it runs.
// Namespaces: `rsni-<pid>-*`; addresses inside them only: 10.78.0.0/24 (the pod network),
// 10.84.0.0/16 (the site's planet addresses).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { run as render } from "../src/cli/render-command.ts";
import { execIn, netnsUnavailable, removeNamespaces, removeStale } from "./support/netns.ts";

const repo = resolve(import.meta.dirname, "..");
const nodeBin = join(repo, "node_modules/.bin/node");
const prefix = "rsni";
const planetYaml = `name: netinit
zone: netinit.test.
sites:
  - { name: kube, city: Frankfurt, lat: 50.11, lon: 8.68, subnet: 10.84.0.0/16, tiers: { store: 3, gateway: 1, dns: 1, app: 1 } }
  - { name: far, city: Tokyo, lat: 35.68, lon: 139.69, subnet: 10.85.0.0/16, tiers: { store: 3, gateway: 1, dns: 1, app: 1 } }
wan: { mode: direct }
`;

function ip(args: readonly string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

/** A tiny server or client inside a namespace: prints one JSON line per event. */
function nodeIn(
  ns: string,
  code: string,
  env: Record<string, string> = {},
): { child: ChildProcess; lines: Promise<string> } {
  const child = spawn("ip", ["netns", "exec", ns, nodeBin, "-e", code], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  // The first line, or what was printed when it exited or after 10 s (a connect that hangs).
  const lines = new Promise<string>((done) => {
    const timer = setTimeout(() => done(out.trim()), 10_000);
    const finish = () => {
      clearTimeout(timer);
      done(out.trim());
    };
    child.stdout?.on("data", (b) => {
      out += String(b);
      if (out.includes("\n")) finish();
    });
    child.once("exit", finish);
  });
  return { child, lines };
}

const tcpEcho = `
const net = require("node:net");
net.createServer((s) => s.end(JSON.stringify({ local: s.localAddress, remote: s.remoteAddress }) + "\\n"))
  .listen(Number(process.env.PORT), process.env.ADDR, () => console.log("listening"));`;
const udpEcho = `
const d = require("node:dgram").createSocket("udp4");
d.on("message", (m, r) => d.send(JSON.stringify({ got: String(m), from: r.address }), r.port, r.address));
d.bind(Number(process.env.PORT), process.env.ADDR, () => console.log("listening"));`;

test("render netinit - a pod's planet address takes traffic sent to the pod and sends from the pod's address", async (t) => {
  const why = netnsUnavailable(prefix);
  if (why) return t.skip(why);
  const nftCheck = spawnSync("nft", ["--version"], { encoding: "utf8" });
  if (nftCheck.status !== 0) return t.skip("nft (nftables) is not installed");
  await removeStale(prefix);
  const tag = `${prefix}-${process.pid}`;
  const nodeNs = `${tag}-node`;
  const pods = [`${tag}-store`, `${tag}-dns`];
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), "rs-netinit-"));
  try {
    writeFileSync(join(dir, "planet.yaml"), planetYaml);
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await render(["kubernetes", "--planet", join(dir, "planet.yaml"), "--site", "kube", "--out", dir]);
    } finally {
      process.stdout.write = write;
    }
    const objs = parseAllDocuments(readFileSync(join(dir, "redshirt-kube.yaml"), "utf8")).map((d) => d.toJS());
    const initOf = (kind: string, name: string): string[] =>
      objs.find((o) => o.kind === kind && o.metadata.name === name).spec.template.spec.initContainers[0].command;
    const storeInit = initOf("StatefulSet", "redshirt-store");
    const dnsInit = initOf("Deployment", "kube-dns1");
    assert.deepEqual(storeInit.slice(0, 2), ["/bin/sh", "-c"]);

    // The cluster node and two pods, each pod on a veth of the pod network 10.78.0.0/24.
    for (const ns of [nodeNs, ...pods]) {
      ip(["netns", "add", ns]);
      ip(["-n", ns, "link", "set", "lo", "up"]);
    }
    const podIps = ["10.78.0.2", "10.78.0.3"];
    pods.forEach((ns, i) => {
      const a = `rsni${process.pid % 10000}p${i}`;
      const b = `rsni${process.pid % 10000}n${i}`;
      ip(["link", "add", a, "netns", ns, "type", "veth", "peer", "name", b, "netns", nodeNs]);
      ip(["-n", ns, "addr", "add", `${podIps[i]}/32`, "dev", a]);
      ip(["-n", ns, "link", "set", a, "up"]);
      ip(["-n", nodeNs, "link", "set", b, "up"]);
      if (i === 0) ip(["-n", nodeNs, "addr", "add", "10.78.0.1/32", "dev", b]);
      ip(["-n", nodeNs, "route", "add", `${podIps[i]}/32`, "dev", b]);
      ip(["-n", ns, "route", "add", "10.78.0.1/32", "dev", a]);
      ip(["-n", ns, "route", "add", "default", "via", "10.78.0.1", "dev", a, "onlink"]);
    });

    // The init containers, as the kubelet runs them: the store pod is ordinal 1 (node kube-store2).
    const storeRun = await execIn(pods[0], "env", ["HOSTNAME=redshirt-store-1", ...storeInit]);
    assert.equal(storeRun.code, 0, storeRun.stderr);
    assert.match(storeRun.stdout, /planet address 10\.84\.1\.2 joined/);
    const dnsRun = await execIn(pods[1], dnsInit[0], dnsInit.slice(1));
    assert.equal(dnsRun.code, 0, dnsRun.stderr);
    // An ordinal the planet has no node for is refused.
    const stray = await execIn(nodeNs, "env", ["HOSTNAME=redshirt-store-7", ...storeInit]);
    assert.notEqual(stray.code, 0);
    assert.match(stray.stderr, /no planet store node for pod redshirt-store-7/);

    // A process bound to the planet address only.
    const store = nodeIn(pods[0], tcpEcho, { ADDR: "10.84.1.2", PORT: "7401" });
    const dns = nodeIn(pods[1], udpEcho, { ADDR: "10.84.3.1", PORT: "5353" });
    children.push(store.child, dns.child);
    assert.equal(await store.lines, "listening");
    assert.equal(await dns.lines, "listening");

    // TCP to the pod's address (the Service's DNAT target, or a kubelet probe) reaches it.
    const tcp = nodeIn(
      nodeNs,
      `require("node:net").connect(7401, "${podIps[0]}", function () { this.on("data", (b) => { console.log(String(b).trim()); this.end(); }); });`,
    );
    children.push(tcp.child);
    assert.deepEqual(JSON.parse(await tcp.lines), { local: "10.84.1.2", remote: "10.78.0.1" });
    // UDP too (a DNS query), and the answer comes back from the address it was sent to.
    const udp = nodeIn(
      nodeNs,
      `const d = require("node:dgram").createSocket("udp4"); d.on("message", (m, r) => { console.log(JSON.stringify({ ...JSON.parse(String(m)), replyFrom: r.address })); d.close(); }); d.send("q", 5353, "${podIps[1]}");`,
    );
    children.push(udp.child);
    assert.deepEqual(JSON.parse(await udp.lines), { got: "q", from: "10.78.0.1", replyFrom: podIps[1] });

    // The DNS pod's second planet address, its management one (.7.k): the admin port sent to
    // the pod (a kubelet probe, the admin Service) reaches a process bound to that address only.
    const admin = nodeIn(pods[1], tcpEcho, { ADDR: "10.84.7.1", PORT: "5354" });
    children.push(admin.child);
    assert.equal(await admin.lines, "listening");
    const toAdmin = nodeIn(
      nodeNs,
      `require("node:net").connect(5354, "${podIps[1]}", function () { this.on("data", (b) => { console.log(String(b).trim()); this.end(); }); });`,
    );
    children.push(toAdmin.child);
    assert.deepEqual(JSON.parse(await toAdmin.lines), { local: "10.84.7.1", remote: "10.78.0.1" });

    // What the process sends from its planet address (a DNS probe binds it) leaves from the pod's.
    const seen = nodeIn(nodeNs, tcpEcho, { ADDR: "10.78.0.1", PORT: "9999" });
    children.push(seen.child);
    assert.equal(await seen.lines, "listening");
    const out = nodeIn(
      pods[1],
      `require("node:net").connect({ port: 9999, host: "10.78.0.1", localAddress: "10.84.3.1" }, function () { this.on("data", (b) => { console.log(String(b).trim()); this.end(); }); });`,
    );
    children.push(out.child);
    assert.deepEqual(JSON.parse(await out.lines), { local: "10.78.0.1", remote: podIps[1] });
  } finally {
    for (const c of children) c.kill("SIGKILL");
    await removeNamespaces([nodeNs, ...pods]);
    rmSync(dir, { recursive: true, force: true });
  }
});
