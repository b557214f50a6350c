// The dashboard's server on its own, for a planet whose processes are not running (its
// supervisors do not answer, which the view shows): the page and every asset come from this
// server and name nothing elsewhere; an action without the planet's control token, or with
// a wrong one, is refused with 401 and counted; with it, a bad field is named (400); the
// event stream opens with the planet's layout and the world map.
// Addresses: 127.229.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { request } from "undici";
import { controlBearerToken } from "../core/index.ts";
import { parsePlanet } from "../topology/index.ts";
import { dashboardEndpoint, type RunningDashboard, startDashboard } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "redshirt-dashboard-"));
const planet = parsePlanet(
  `name: dashtest
zone: dash.test.
sites:
  - { name: a, city: A, lat: 48.8, lon: 2.3, subnet: 127.229.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
clients:
  - { name: paris, cidr: 10.7.0.0/16, lat: 48.9, lon: 2.4 }
store: { partitions: 2, rf: 1, dataDir: data }
wan: { mode: direct }
ports: { dashboard: 7791 }
`,
  { baseDir: dir },
);
const secret = Buffer.alloc(32, 7);
const token = controlBearerToken(secret);
let dash: RunningDashboard | undefined;
const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

before(async () => {
  dash = await startDashboard({ planet, secret, log: silent });
});
after(async () => {
  await dash?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const base = () => dash?.url ?? "";

test("dashboard - listens on the first site's management address and prints a link carrying the token in its fragment", () => {
  assert.deepEqual(dashboardEndpoint(planet), { host: "127.229.6.2", port: 7791 });
  assert.equal(dash?.url, "http://127.229.6.2:7791/");
  assert.equal(dash?.operatorUrl, `http://127.229.6.2:7791/#token=${token}`);
});

test("dashboard - the page and every asset it names come from its own server", async () => {
  const page = await request(base());
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers["content-security-policy"]), /default-src 'self'/);
  const html = await page.body.text();
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length >= 4, html);
  for (const ref of refs) {
    assert.ok(ref.startsWith("/"), `${ref} is not on this server`);
    const res = await request(new URL(ref, base()));
    assert.equal(res.statusCode, 200, ref);
    const text = await res.body.text();
    assert.ok(!/https?:\/\/(?!www\.w3\.org)/.test(text) || ref.startsWith("/vendor/"), `${ref} names another address`);
  }
  for (const module of ["/map.js", "/panels.js", "/charts.js"]) {
    assert.equal((await request(new URL(module, base()))).statusCode, 200, module);
  }
});

test("dashboard - an action without the token, or with a wrong one, is refused with 401 and counted", async () => {
  for (const authorization of [undefined, "Bearer nope", `Bearer ${token}x`]) {
    const res = await request(new URL("/api/actions/kill-site", base()), {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ site: "a" }),
    });
    assert.equal(res.statusCode, 401);
    const body = (await res.body.json()) as { error: { code: string } };
    assert.equal(body.error.code, "RS_ERR_DASHBOARD_UNAUTHORIZED");
  }
  const metrics = await (await request(new URL("/metrics", base()))).body.text();
  assert.match(metrics, /redshirt_dashboard_unauthorized_total 3/);
});

test("dashboard - with the token, a bad field is named and an unknown action is 404", async () => {
  const post = async (name: string, body: unknown) => {
    const res = await request(new URL(`/api/actions/${name}`, base()), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return { status: res.statusCode, body: (await res.body.json()) as { error: { code: string; message: string } } };
  };
  const site = await post("kill-site", { site: "zz" });
  assert.equal(site.status, 400);
  assert.equal(site.body.error.code, "RS_ERR_DASHBOARD_BAD_REQUEST");
  assert.match(site.body.error.message, /site: "zz" \(sites: a\)/);
  const ttl = await post("kill-tier", { site: "a", tier: "app", ttlS: -1 });
  assert.match(ttl.body.error.message, /ttlS: a number from 0/);
  const link = await post("partition", { a: "a", b: "a" });
  assert.match(link.body.error.message, /^.*b: "a" is a as well/);
  const speed = await post("sun-speed", { clockSpeed: -60 });
  assert.equal(speed.status, 400);
  assert.match(speed.body.error.message, /clockSpeed: a number above 0 and at most 10000 \(got -60\)/);
  const noSun = await post("sun-speed", { clockSpeed: 60 });
  assert.equal(noSun.status, 409, "this planet has no sun section");
  assert.equal(noSun.body.error.code, "RS_ERR_DASHBOARD_NO_SUN");
  const none = await post("explode", {});
  assert.equal(none.status, 404);
  assert.equal(none.body.error.code, "RS_ERR_DASHBOARD_NOT_FOUND");
  // A supervisor that does not answer: the operation's own code comes back inside the action's.
  const down = await post("kill-site", { site: "a", ttlS: 5 });
  assert.equal(down.status, 502);
  assert.equal(down.body.error.code, "RS_ERR_DASHBOARD_ACTION_FAILED");
  assert.match(down.body.error.message, /RS_ERR_CHAOS_UNREACHABLE/);
});

test("dashboard - the event stream opens with the planet, the map and a view that shows the supervisors not answering", async () => {
  const res = await request(new URL("/api/events", base()));
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /text\/event-stream/);
  let text = "";
  for await (const chunk of res.body) {
    text += String(chunk);
    if (text.includes("event: view\n")) break;
  }
  res.body.destroy();
  const hello = JSON.parse(/event: hello\ndata: (.*)\n/.exec(text)?.[1] ?? "null");
  assert.deepEqual(
    hello.planet.sites.map((s: { name: string }) => s.name),
    ["a"],
  );
  assert.ok(hello.map.landPath.length > 10_000, "the land of world-atlas, projected");
  const view = JSON.parse(/event: view\ndata: (.*)\n/.exec(text)?.[1] ?? "null");
  assert.deepEqual(
    view.sites.map((s: { reachable: boolean; health: string }) => [s.reachable, s.health]),
    [[false, "down"]],
  );
});
