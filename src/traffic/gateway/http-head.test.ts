import assert from "node:assert/strict";
import { test } from "node:test";
import {
  findHeadEnd,
  type HeadRejection,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "./http-head.ts";

function req(text: string): RequestHead | HeadRejection {
  return parseRequestHead(text);
}

function accepted(text: string): RequestHead {
  const r = req(text);
  assert.ok(r.ok, `expected acceptance of ${JSON.stringify(text)}: ${r.ok ? "" : r.reason}`);
  return r;
}

function refused(text: string, status: number): string {
  const r = req(text);
  assert.ok(!r.ok, `expected refusal of ${JSON.stringify(text)}`);
  assert.equal(r.status, status, `${JSON.stringify(text)}: ${r.reason}`);
  return r.reason;
}

test("http-head - a plain GET is accepted and can be forwarded byte for byte", () => {
  const h = accepted("GET /a?b=c HTTP/1.1\r\nHost: shop.test\r\nAccept: */*\r\n\r\n");
  assert.equal(h.method, "GET");
  assert.equal(h.target, "/a?b=c");
  assert.equal(h.minor, 1);
  assert.equal(h.host, "shop.test");
  assert.equal(h.contentLength, -1);
  assert.equal(h.chunked, false);
  assert.equal(h.keepAlive, true);
  assert.equal(h.anyDropped, false);
  assert.deepEqual(
    h.fields.map((f) => [f.name, f.value]),
    [
      ["Host", "shop.test"],
      ["Accept", "*/*"],
    ],
  );
});

test("http-head - framing fields are read: Content-Length, chunked, keep-alive by version", () => {
  assert.equal(accepted("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n").contentLength, 12);
  assert.equal(accepted("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n").chunked, true);
  assert.equal(accepted("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keepAlive, false);
  assert.equal(accepted("GET / HTTP/1.0\r\n\r\n").keepAlive, false);
  assert.equal(accepted("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive, true);
  const idem = accepted("POST /o HTTP/1.1\r\nHost: h\r\nIdempotency-Key: k1\r\nContent-Length: 0\r\n\r\n");
  assert.equal(idem.idempotencyKey, true);
});

test("http-head - request smuggling shapes are refused (400; 501 for a transfer coding other than chunked)", () => {
  const h = "POST / HTTP/1.1\r\nHost: h\r\n";
  refused(`${h}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, 400);
  refused(`${h}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`, 400);
  refused(`${h}Content-Length: 5\r\nContent-Length: 5\r\n\r\n`, 400);
  refused(`${h}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`, 400);
  refused(`${h}Content-Length: 5, 5\r\n\r\n`, 400);
  refused(`${h}Content-Length: +5\r\n\r\n`, 400);
  refused(`${h}Content-Length: 0x5\r\n\r\n`, 400);
  refused(`${h}Content-Length: \r\n\r\n`, 400);
  refused(`${h}Content-Length: 1234567890123456\r\n\r\n`, 400);
  refused(`${h}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, 400);
  refused(`${h}Transfer-Encoding: chunked, chunked\r\n\r\n`, 501);
  refused(`${h}Transfer-Encoding: xchunked\r\n\r\n`, 501);
  refused(`${h}Transfer-Encoding: "chunked"\r\n\r\n`, 400);
  refused(`${h}Transfer-Encoding: chunked;q=1\r\n\r\n`, 400);
  refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
  refused(`${h}Transfer-Encoding : chunked\r\n\r\n`, 400);
  refused(`${h} Transfer-Encoding: chunked\r\n\r\n`, 400);
  refused(`${h}X: a\r\n Transfer-Encoding: chunked\r\n\r\n`, 400);
  refused(`${h}X: a\r\n\tfolded\r\n\r\n`, 400);
  refused(`${h}X: a\nTransfer-Encoding: chunked\r\n\r\n`, 400);
  refused(`${h}X: a\rTransfer-Encoding: chunked\r\n\r\n`, 400);
  refused(`${h}X: a\u0000b\r\n\r\n`, 400);
  refused(`${h}X: a\u007fb\r\n\r\n`, 400);
  refused(`${h}Connection: content-length\r\nContent-Length: 5\r\n\r\n`, 400);
  refused(`${h}Connection: close, transfer-encoding\r\n\r\n`, 400);
  refused(`${h}Connection: Host\r\n\r\n`, 400);
});

test("http-head - bad request lines, versions and Host are refused with 400", () => {
  refused("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400);
  refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 400);
  refused("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
  refused("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
  refused("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  refused("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  refused("G(ET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  refused("GET / HTTP/1.1\r\n\r\n", 400);
  refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
  refused("GET / HTTP/1.1\r\nHost: \r\n\r\n", 400);
  refused("GET ftp://x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  refused("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  refused("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 501);
  refused("\r\n\r\n", 400);
  assert.match(refused(`GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: h\r\n\r\n`, 414), /too long/);
});

test("http-head - more than the field limit is 431", () => {
  const fields = Array.from({ length: 101 }, (_, i) => `X-${i}: v\r\n`).join("");
  refused(`GET / HTTP/1.1\r\nHost: h\r\n${fields}\r\n`, 431);
});

test("http-head - hop-by-hop fields and the ones Connection names are dropped; forwarding fields collected", () => {
  const h = accepted(
    "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nX-Secret: 1\r\n" +
      "TE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nForwarded: for=10.0.0.1\r\nX-Keep: yes\r\n\r\n",
  );
  assert.equal(h.anyDropped, true);
  assert.deepEqual(
    h.fields.filter((f) => !f.drop).map((f) => f.name),
    ["Host", "X-Keep"],
  );
  assert.equal(h.forwardedFor, "10.0.0.1, 10.0.0.2");
  assert.equal(h.forwarded, "for=10.0.0.1");
});

test("http-head - an upgrade needs Connection: upgrade and HTTP/1.1; h2c is not passed on", () => {
  const ws = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  assert.equal(accepted(ws).upgrade, "websocket");
  assert.equal(accepted("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n").upgrade, undefined);
  assert.equal(accepted("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n").upgrade, undefined);
});

test("http-head - an absolute-form target becomes origin-form and its authority replaces Host", () => {
  const h = accepted("GET http://shop.test:8080/cart?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  assert.equal(h.target, "/cart?x=1");
  assert.equal(h.host, "shop.test:8080");
  assert.equal(h.targetRewritten, true);
  assert.equal(accepted("GET http://a.test HTTP/1.1\r\nHost: a.test\r\n\r\n").target, "/");
  assert.equal(accepted("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").target, "*");
});

test("http-head - findHeadEnd finds CRLF CRLF and flags a bare LF early", () => {
  assert.equal(findHeadEnd(Buffer.from("GET / HTTP/1.1\r\nHost: h\r\n\r\nBODY"), 0), 27);
  assert.equal(findHeadEnd(Buffer.from("GET / HTTP/1.1\r\nHost: h\r\n"), 0), -1);
  assert.equal(findHeadEnd(Buffer.from("GET / HTTP/1.1\nHost: h"), 0), -2);
  assert.equal(findHeadEnd(Buffer.from("GET / HTTP/1.1\r\n\n"), 0), -2);
});

function resp(text: string): ResponseHead {
  const r = parseResponseHead(text);
  assert.ok(r.ok, `expected acceptance: ${r.ok ? "" : r.reason}`);
  return r;
}

test("http-head - responses: status, framing, keep-alive, and strictness", () => {
  const r = resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n");
  assert.equal(r.status, 200);
  assert.equal(r.contentLength, 3);
  assert.equal(r.keepAlive, true);
  assert.equal(r.anyDropped, true);
  assert.equal(resp("HTTP/1.0 200 OK\r\n\r\n").keepAlive, false);
  assert.equal(resp("HTTP/1.1 204\r\n\r\n").status, 204);
  assert.equal(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").upgrade, "websocket");
  for (const bad of [
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    "HTTP/1.1 20 OK\r\n\r\n",
    "HTTP/2 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\n folded\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX: a\u0001\r\n\r\n",
  ]) {
    assert.equal(parseResponseHead(bad).ok, false, JSON.stringify(bad));
  }
});

test("http-head - '#' and '\\' in a target are refused", () => {
  refused("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  refused("GET /a\\b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  accepted("GET /a%23b?c=%5C HTTP/1.1\r\nHost: h\r\n\r\n");
});

test("http-head - Connection: idempotency-key (or rs-hop, x-request-id) undoes what the field meant", () => {
  const h = accepted(
    "POST /o HTTP/1.1\r\nHost: h\r\nIdempotency-Key: k\r\nRS-Hop: x\r\nX-Request-Id: r\r\nConnection: idempotency-key, rs-hop, x-request-id\r\nContent-Length: 0\r\n\r\n",
  );
  assert.equal(h.idempotencyKey, false, "a hop-by-hop key must not leave retries on");
  assert.equal(h.hop, undefined);
  assert.equal(h.requestId, false, "dropped, so the gateway adds its own");
  assert.equal(accepted("POST /o HTTP/1.1\r\nHost: h\r\nIdempotency-Key: k\r\n\r\n").idempotencyKey, true);
  const hop = accepted("GET / HTTP/1.1\r\nHost: h\r\nRS-Hop: nyc\r\n\r\n");
  assert.equal(hop.hop, "nyc");
  assert.ok(hop.fields.find((f) => f.lc === "rs-hop")?.drop, "RS-Hop is never forwarded as it came");
});

test("http-head - responses: Transfer-Encoding in HTTP/1.0 refused; 'gzip, chunked' framed as chunked; app RS-* dropped", () => {
  const r10 = parseResponseHead("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  assert.ok(!r10.ok);
  const gz = parseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  assert.ok(gz.ok && gz.chunked && gz.codedBeyondChunked);
  for (const te of ["chunked, gzip", "gzip", "chunked, chunked", "gzip;q"]) {
    assert.ok(!parseResponseHead(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n`).ok, te);
  }
  const plain = parseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  assert.ok(plain.ok && plain.chunked && !plain.codedBeyondChunked);
  const app = parseResponseHead("HTTP/1.1 200 OK\r\nRS-Error: X\r\nrs-other: y\r\nContent-Length: 0\r\n\r\n", true);
  assert.ok(app.ok);
  assert.deepEqual(
    app.fields.filter((f) => f.drop).map((f) => f.lc),
    ["rs-error", "rs-other"],
  );
  refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
});

test("http-head - findHeadEnd resumes where it stopped and finds an end or a bare LF split across reads", () => {
  const text = "GET / HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\nBODY";
  const end = text.indexOf("\r\n\r\n") + 4;
  for (let cut = 1; cut < text.length; cut++) {
    const first = Buffer.from(text.slice(0, cut), "latin1");
    const r1 = findHeadEnd(first, 0);
    if (cut >= end) {
      assert.equal(r1, end);
      continue;
    }
    assert.equal(r1, -1, `cut ${cut}`);
    assert.equal(findHeadEnd(Buffer.from(text, "latin1"), 0, cut), end, `resumed at ${cut}`);
  }
  const lf = Buffer.from("GET / HTTP/1.1\r\nHost: h\n", "latin1");
  assert.equal(findHeadEnd(lf, 0, lf.length - 1), -2, "a bare LF in the new bytes");
});
