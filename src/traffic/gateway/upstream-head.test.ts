import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRequestHead, type RequestHead } from "./http-head.ts";
import { upstreamRequestHead } from "./rewrite.ts";
import { UpstreamHeads, withHopLine } from "./upstream-head.ts";

function reqHead(text: string): RequestHead {
  const r = parseRequestHead(text);
  assert.ok(r.ok);
  return r;
}

const w = { clientIp: "10.1.2.3", hostDefault: "127.10.2.1:8080" };
const idRe = /X-Request-Id: ([0-9a-f-]{36})\r\n/;

/** What the text rewrite makes of `h` with the id the bytes carry. */
function expected(h: RequestHead, bytes: Buffer, fromPeer = false): string {
  const id = idRe.exec(bytes.toString("latin1"))?.[1] ?? "";
  return `${upstreamRequestHead(h, { ...w, requestId: id, fromPeer })}\r\n`;
}

test("upstream heads - the bytes are the text rewrite's head, for every kind of head", () => {
  const heads = [
    "GET /x HTTP/1.1\r\nHost: shop.test\r\nAccept: */*\r\n\r\n",
    "POST /o HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nX-Forwarded-For: 1.1.1.1\r\nContent-Length: 2\r\n\r\n",
    "GET /old HTTP/1.0\r\n\r\n",
    "GET http://shop.test/abs HTTP/1.1\r\nHost: other\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "GET /mine HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc\r\n\r\n",
  ];
  for (const text of heads) {
    const h = reqHead(text);
    const bytes = new UpstreamHeads({ ...w, cache: { host: "", text: "" } }).next(h, false);
    assert.equal(bytes.toString("latin1"), expected(h, bytes), text);
  }
  const mine = reqHead(heads[5]);
  const bytes = new UpstreamHeads(w).next(mine, false);
  const text = bytes.toString("latin1");
  assert.equal(text.match(/X-Request-Id/g)?.length, 1, "a request's own id is kept, none added");
  assert.match(text, /X-Request-Id: abc\r\n/);
});

test("upstream heads - a repeated request gets the same bytes with a new id; only the id's bytes change", () => {
  const heads = new UpstreamHeads(w);
  const h = reqHead("GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n");
  const a = heads.next(h, false);
  const first = a.toString("latin1");
  const b = heads.next(h, false);
  assert.equal(b, a, "the same buffer");
  const second = b.toString("latin1");
  assert.notEqual(idRe.exec(second)?.[1], idRe.exec(first)?.[1]);
  assert.equal(second.replace(idRe, ""), first.replace(idRe, ""));
  assert.equal(second, expected(h, b));
  const other = reqHead("GET /other HTTP/1.1\r\nHost: shop.test\r\n\r\n");
  const c = heads.next(other, false);
  assert.notEqual(c, a, "another head: other bytes");
  assert.equal(c.toString("latin1"), expected(other, c));
});

test("upstream heads - bytes a write still holds are never changed: the next request copies them", () => {
  const heads = new UpstreamHeads(w);
  const h = reqHead("GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n");
  const a = heads.next(h, false);
  const held = a.toString("latin1");
  heads.lend(a);
  const b = heads.next(h, false);
  assert.notEqual(b, a);
  assert.equal(a.toString("latin1"), held, "the lent bytes are as they were");
  assert.notEqual(idRe.exec(b.toString("latin1"))?.[1], idRe.exec(held)?.[1]);
  assert.equal(heads.next(h, false), b, "the copy is kept for the next request");
  heads.lend(a);
  assert.equal(heads.next(h, false), b, "lending old bytes changes nothing for the new ones");
  // A request with its own id has nothing to rewrite: its bytes are shared even when lent.
  const mine = reqHead("GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc\r\n\r\n");
  const m = heads.next(mine, false);
  heads.lend(m);
  assert.equal(heads.next(mine, false), m);
});

test("upstream heads - a peer gateway's request is made afresh each time, with its forwarding fields", () => {
  const heads = new UpstreamHeads(w);
  const h = reqHead("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 9.9.9.9\r\nRS-Hop: x\r\n\r\n");
  const a = heads.next(h, true);
  const b = heads.next(h, true);
  assert.notEqual(a, b);
  assert.equal(a.toString("latin1"), expected(h, a, true));
  assert.match(a.toString("latin1"), /X-Forwarded-For: 9\.9\.9\.9, 10\.1\.2\.3\r\n/);
  const c = heads.next(h, false);
  assert.match(c.toString("latin1"), /X-Forwarded-For: 10\.1\.2\.3\r\n/, "the same head from a client: replaced");
  assert.equal(heads.next(h, true).toString("latin1").includes("9.9.9.9"), true, "and the peer's is not cached");
});

test("upstream heads - an RS-Hop line goes before the empty line", () => {
  const head = Buffer.from("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "latin1");
  assert.equal(
    withHopLine(head, "nyc; t=1").toString("latin1"),
    "GET / HTTP/1.1\r\nHost: h\r\nRS-Hop: nyc; t=1\r\n\r\n",
  );
});
