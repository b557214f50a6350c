// Membership with real processes (wan direct mode, 2 sites × 3 store nodes on loopback):
// 1. Under bounded load of writes with op ids, `redshirt store join` adds nyc-store4 and
//    `redshirt store leave` removes nyc-store1 (then its process is killed). Every
//    acknowledged write must then be on every voting replica of every site, the survivors'
//    logs must be truncated again, and no node counts an internal error.
// 2. A node killed for good is replaced (`redshirt store replace`) under load: the new node
//    fills from the survivors and then holds every acknowledged write.
// 3. A node killed and left down past store.deadPeerAfterS no longer holds back the log of
//    its peers (which truncate it, and report it gone); when it comes back its stream finds
//    its cursor below the truncated start and anti-entropy alone refills it.
// Addresses: 127.241.0.0/16 – 127.244.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { controlBearerToken, nodeBin } from "../src/core/index.ts";
import {
  createStoreClient,
  decodeMembership,
  type MembershipView,
  partitionOf,
  placeMembers,
} from "../src/store/index.ts";
import { StoreCluster } from "./support/store-cluster.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agent = new Agent({ connections: 16, keepAliveTimeout: 5_000 });
const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

async function get<T>(url: string): Promise<T> {
  const res = await request(url, { dispatcher: agent, headersTimeout: 5_000, bodyTimeout: 5_000 });
  return (await res.body.json()) as T;
}

async function membershipOf(cluster: StoreCluster, node: string): Promise<MembershipView | undefined> {
  try {
    return await get<MembershipView>(`${cluster.url(node)}/v1/membership`);
  } catch {
    return undefined;
  }
}

async function metric(cluster: StoreCluster, node: string, name: string): Promise<number> {
  const res = await request(`${cluster.url(node)}/metrics`, { dispatcher: agent });
  const text = await res.body.text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (-?[\\d.e+]+)$`, "gm"))) total += Number(m[1]);
  return total;
}

async function readLocalOne(cluster: StoreCluster, node: string, key: string): Promise<unknown> {
  const r = await get<{ exists: boolean; value?: unknown }>(
    `${cluster.url(node)}/v1/kv/${encodeURIComponent(key)}?consistency=local-one`,
  );
  return r.exists ? r.value : undefined;
}

/** Waits (bounded) until `check` holds, polling every `everyMs`. Returns the ms it took, or -1. */
async function waitFor(check: () => Promise<boolean>, withinMs: number, everyMs = 250): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < withinMs) {
    if (await check()) return Date.now() - started;
    await sleep(everyMs);
  }
  return (await check()) ? Date.now() - started : -1;
}

function cli(cluster: StoreCluster, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      nodeBin,
      [cliMain, "store", ...args, "--planet", cluster.planetFile],
      { timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function connected(cluster: StoreCluster, nodes: readonly string[]): Promise<boolean> {
  for (const n of nodes) {
    const h = await get<{ peersDown: string[] }>(`${cluster.url(n)}/healthz`).catch(() => undefined);
    if (!h || h.peersDown.length > 0) return false;
  }
  return true;
}

type Acked = { key: string; value: number };

/** Writes registers with op ids from `lanes` lanes to the nodes in `live` (read at each send) until stopped or `perLaneMax`. */
function startLoad(cluster: StoreCluster, live: string[], lanes: number, perLaneMax: number) {
  const acked: Acked[] = [];
  let stop = false;
  let sent = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  const done = Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = 0; i < perLaneMax && !stop; i++) {
        const key = `m-${lane}-${i}`;
        const node = live[(lane + i) % live.length];
        sent++;
        try {
          const res = await request(`${cluster.url(node)}/v1/kv/${key}?consistency=local-quorum`, {
            method: "PUT",
            headers: { "content-type": "application/json", "idempotency-key": `op-${lane}-${i}` },
            body: JSON.stringify({ value: i }),
            dispatcher: agent,
            headersTimeout: 10_000,
            bodyTimeout: 10_000,
          });
          const text = await res.body.text();
          if (res.statusCode === 200) acked.push({ key, value: i });
          else {
            failed++;
            const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? String(res.statusCode);
            errors.set(code, (errors.get(code) ?? 0) + 1);
          }
        } catch (err) {
          failed++;
          const code = (err as { code?: string }).code ?? "error";
          errors.set(code, (errors.get(code) ?? 0) + 1);
        }
        await sleep(15);
      }
    }),
  );
  return {
    acked,
    stats: () => ({ sent, failed, errors: JSON.stringify(Object.fromEntries(errors)) }),
    finished: () => done,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/**
 * After a change: every acknowledged write reaches every voter of the final record, every
 * survivor's log drains (nobody waits for a node that left) and no survivor counted an
 * internal error.
 */
async function assertSettled(
  cluster: StoreCluster,
  final: MembershipView,
  acked: readonly Acked[],
  live: readonly string[],
): Promise<void> {
  let missing: string[] = [];
  const convergedMs = await waitFor(
    async () => {
      missing = await missingOnVoters(cluster, final, acked);
      return missing.length === 0;
    },
    30_000,
    1_000,
  );
  assert.ok(convergedMs >= 0, `${missing.length} acknowledged writes missing on voters, e.g. ${missing.slice(0, 8)}`);
  const truncatedMs = await waitFor(async () => {
    for (const n of live) if ((await membershipOf(cluster, n))?.logEntries !== 0) return false;
    return true;
  }, 20_000);
  assert.ok(truncatedMs >= 0, "a survivor's log was not truncated");
  for (const n of live) {
    assert.equal(await metric(cluster, n, "redshirt_store_internal_errors_total"), 0, `${n} counted internal errors`);
  }
}

/** The acknowledged writes some voting replica (per the final record) lacks, as "node:key". */
async function missingOnVoters(cluster: StoreCluster, view: MembershipView, acked: readonly Acked[]) {
  const record = decodeMembership(
    JSON.stringify({ epoch: view.epoch, members: view.members.map((m) => [m.id, m.site, m.host, m.port, m.state]) }),
  );
  const { partitions, rf } = cluster.planet.store;
  const placement = placeMembers(record, partitions, rf, view.node);
  const out: string[] = [];
  for (const w of acked) {
    const voters = [...placement.replicas[partitionOf(w.key, partitions)].values()].flat();
    for (const node of voters) {
      const value = await readLocalOne(cluster, node, w.key).catch(() => "unreachable");
      if (value !== w.value) out.push(`${node}:${w.key}`);
    }
  }
  return out;
}

test("store membership - a node joins and another leaves under load: nothing acknowledged is lost and the survivors' log is truncated again", async (t) => {
  await using cluster = new StoreCluster({
    sites: [
      { name: "nyc", octet: 241, lat: 40.71, lon: -74.01 },
      { name: "lon", octet: 242, lat: 51.51, lon: -0.13 },
    ],
    partitions: 16,
  });
  await cluster.startAll();
  const planetNodes = cluster.planet.storeNodes.map((n) => n.id);
  assert.ok((await waitFor(() => connected(cluster, planetNodes), 20_000)) >= 0, "the planet did not connect");

  // Bad changes are refused, naming what is wrong, and change nothing.
  const post = async (body: unknown, authorization?: string) => {
    const res = await request(`${cluster.url("nyc-store2")}/v1/membership`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
      dispatcher: agent,
    });
    const answer = (await res.body.json()) as { error?: { code?: string; message?: string } };
    return { status: res.statusCode, body: { code: answer.error?.code, message: answer.error?.message } };
  };
  const unauth = await post({ op: "join", node: "nyc-store4" });
  assert.equal(unauth.status, 401);
  assert.equal(unauth.body.code, "RS_ERR_STORE_UNAUTHORIZED");
  const token = `Bearer ${controlBearerToken(cluster.secret)}`;
  const badOp = await post({ op: "grow", node: "nyc-store4" }, token);
  assert.equal(badOp.status, 400);
  assert.match(badOp.body.message ?? "", /op:/);
  const dup = await post({ op: "join", node: "nyc-store2" }, token);
  assert.equal(dup.status, 409);
  assert.equal(dup.body.code, "RS_ERR_STORE_MEMBERSHIP");
  const refused = await cli(cluster, ["leave", "--node", "nyc-store9"]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /RS_ERR_STORE_MEMBERSHIP: .*"nyc-store9" is not a member/);
  const usage = await cli(cluster, ["replace", "--node", "nyc-store5"]);
  assert.notEqual(usage.code, 0);
  assert.match(usage.stderr, /--old/);
  assert.equal((await membershipOf(cluster, "nyc-store2"))?.epoch, 0, "a refused change changed the record");

  const live = [...planetNodes];
  const load = startLoad(cluster, live, 6, 600);
  await sleep(1_000);

  // Join: the record first, then the process (its peers know it by then).
  const join = await cli(cluster, ["join", "--node", "nyc-store4", "--json"]);
  assert.equal(join.code, 0, `store join failed: ${join.stderr}`);
  assert.equal((JSON.parse(join.stdout) as MembershipView).epoch, 1);
  await cluster.start("nyc-store4");
  const members = [...planetNodes, "nyc-store4"];
  const joinedMs = await waitFor(async () => {
    for (const n of members) {
      const v = await membershipOf(cluster, n);
      if (!v || v.epoch < 2 || v.changing) return false;
    }
    return true;
  }, 90_000);
  assert.ok(joinedMs >= 0, "nyc-store4 did not finish joining within 90 s");
  t.diagnostic(`nyc-store4 filled and voting ${joinedMs} ms after it started`);
  live.push("nyc-store4");

  // Leave: nyc-store1 keeps serving until its share is held elsewhere; --wait returns then.
  const leaveStarted = Date.now();
  const leave = await cli(cluster, ["leave", "--node", "nyc-store1", "--wait", "--timeout-s", "90", "--json"]);
  assert.equal(leave.code, 0, `store leave failed: ${leave.stderr}`);
  const left = JSON.parse(leave.stdout) as MembershipView;
  assert.equal(left.changing, false);
  assert.ok(!left.members.some((m) => m.id === "nyc-store1"), "nyc-store1 is still a member");
  t.diagnostic(`nyc-store1 left in ${Date.now() - leaveStarted} ms`);
  live.splice(live.indexOf("nyc-store1"), 1);
  // As the manual says: stop it once it is out (SIGTERM: what it has in flight finishes).
  await cluster.processes.get("nyc-store1")?.stop();
  cluster.processes.delete("nyc-store1");
  await sleep(1_500);
  await load.stop();
  const { sent, failed, errors } = load.stats();
  t.diagnostic(`${load.acked.length} writes acknowledged of ${sent} sent (${failed} failed: ${errors})`);
  assert.ok(load.acked.length > 300, `too few writes acknowledged (${load.acked.length})`);
  assert.ok(failed <= sent * 0.05, `${failed} of ${sent} writes failed: requests were refused for long`);

  const final = await membershipOf(cluster, "nyc-store2");
  assert.ok(final && final.epoch === left.epoch && !final.changing);
  // Every acked write on every voter; the survivors' logs drain to empty: nobody waits for the node that left.
  await assertSettled(cluster, final, load.acked, live);
  for (const n of live) {
    assert.ok((await metric(cluster, n, "redshirt_store_log_truncated_seq")) > 0, `${n} truncated nothing`);
  }
});

test("store membership - a peer gone past store.deadPeerAfterS stops holding back the log, and is refilled by anti-entropy alone when it returns", async (t) => {
  await using cluster = new StoreCluster({
    sites: [{ name: "nyc", octet: 243, lat: 40.71, lon: -74.01 }],
    partitions: 16,
    deadPeerAfterS: 3,
  });
  await cluster.startAll();
  const nodes = cluster.nodesOf("nyc");
  assert.ok((await waitFor(() => connected(cluster, nodes), 20_000)) >= 0, "the site did not connect");
  const victim = "nyc-store3";
  await cluster.kill(victim);
  const load = startLoad(cluster, ["nyc-store1", "nyc-store2"], 4, 100);
  await load.finished();
  assert.ok(load.acked.length >= 390, `${load.acked.length} of 400 writes acknowledged ${load.stats().errors}`);

  // Nobody acknowledges those entries for the victim: only the bound lets the log go.
  const truncatedMs = await waitFor(async () => {
    for (const n of ["nyc-store1", "nyc-store2"]) if ((await membershipOf(cluster, n))?.logEntries !== 0) return false;
    return true;
  }, 20_000);
  assert.ok(truncatedMs >= 0, "the log of the survivors still holds the entries for the dead node");
  const view = await membershipOf(cluster, "nyc-store1");
  assert.deepEqual(
    view?.gone.map((g) => g.peer),
    [victim],
  );
  assert.ok((await metric(cluster, "nyc-store1", "redshirt_store_peer_gone_seconds")) >= 3);

  await cluster.start(victim);
  const refilledMs = await waitFor(
    async () => {
      for (const w of load.acked) if ((await readLocalOne(cluster, victim, w.key)) !== w.value) return false;
      return true;
    },
    30_000,
    500,
  );
  assert.ok(refilledMs >= 0, `${victim} was not refilled within 30 s of its return`);
  t.diagnostic(`${victim} refilled with ${load.acked.length} writes ${refilledMs} ms after it returned`);
  let refills = 0;
  for (const n of ["nyc-store1", "nyc-store2"])
    refills += await metric(cluster, n, "redshirt_store_stream_refills_total");
  assert.ok(refills >= 1, "no stream noticed its cursor below the truncated start");
  const back = await waitFor(async () => (await membershipOf(cluster, "nyc-store1"))?.gone.length === 0, 5_000);
  assert.ok(back >= 0, "the victim is still reported gone");
  for (const n of nodes) {
    assert.equal(await metric(cluster, n, "redshirt_store_internal_errors_total"), 0, `${n} counted internal errors`);
  }
});

test("store membership - a node lost for good is replaced under load, and the new node holds every acknowledged write", async (t) => {
  await using cluster = new StoreCluster({
    sites: [{ name: "nyc", octet: 244, lat: 40.71, lon: -74.01 }],
    partitions: 16,
    deadPeerAfterS: 2,
  });
  await cluster.startAll();
  const nodes = cluster.nodesOf("nyc");
  assert.ok((await waitFor(() => connected(cluster, nodes), 20_000)) >= 0, "the site did not connect");
  const live = ["nyc-store1", "nyc-store2"];
  const load = startLoad(cluster, live, 4, 500);
  // An app's client made from the planet file before the change: it must learn the new node.
  const client = createStoreClient({ planet: cluster.planet, site: "nyc", timeoutMs: 3_000 });
  t.after(() => client.close());
  await sleep(500);
  await cluster.kill("nyc-store3");
  await sleep(3_000);
  assert.deepEqual(
    (await membershipOf(cluster, "nyc-store1"))?.gone.map((g) => g.peer),
    ["nyc-store3"],
    "the lost node is reported gone",
  );
  const replace = await cli(cluster, ["replace", "--old", "nyc-store3", "--node", "nyc-store5", "--json"]);
  assert.equal(replace.code, 0, `store replace failed: ${replace.stderr}`);
  await cluster.start("nyc-store5");
  const doneMs = await waitFor(async () => {
    for (const n of [...live, "nyc-store5"]) {
      const v = await membershipOf(cluster, n);
      if (!v || v.changing || v.members.some((m) => m.id === "nyc-store3")) return false;
    }
    return true;
  }, 90_000);
  assert.ok(doneMs >= 0, "the replace did not finish within 90 s");
  t.diagnostic(`nyc-store5 replaced nyc-store3 ${doneMs} ms after it started`);
  live.push("nyc-store5");
  await client.refreshMembership();
  const status = client.membershipStatus();
  assert.ok(status.epoch >= 1, `the client adopted the store's record: ${JSON.stringify(status)}`);
  assert.ok(status.nodes.includes("nyc-store5"), "the client sends to the new node");
  assert.ok(!status.nodes.includes("nyc-store3"), "and no longer to the replaced one");
  assert.equal(status.refreshFailures, 0, status.lastFailure);
  await client.put("after-replace", "v", { opId: "after-replace-1", consistency: "local-quorum" });
  assert.equal((await client.get("after-replace")).value, "v");
  await sleep(1_000);
  await load.stop();
  const { sent, failed, errors } = load.stats();
  t.diagnostic(`${load.acked.length} writes acknowledged of ${sent} sent (${failed} failed: ${errors})`);
  const final = await membershipOf(cluster, "nyc-store1");
  assert.ok(final);
  await assertSettled(cluster, final, load.acked, live);
});
