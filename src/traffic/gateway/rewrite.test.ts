import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRequestHead, parseResponseHead, type RequestHead, type ResponseHead } from "./http-head.ts";
import { clientAddress, clientResponseHead, responseRewrite, upstreamRequestHead } from "./rewrite.ts";

function reqHead(text: string): RequestHead {
  const r = parseRequestHead(text);
  assert.ok(r.ok);
  return r;
}

function respHead(text: string): ResponseHead {
  const r = parseResponseHead(text);
  assert.ok(r.ok);
  return r;
}

const w = { clientIp: "10.1.2.3", hostDefault: "127.10.2.1:8080", requestId: "rid-1", fromPeer: false };
const fromPeer = { ...w, fromPeer: true };

test("rewrite - forwarding headers are added and an untouched head is kept as sent", () => {
  const out = upstreamRequestHead(reqHead("GET /x HTTP/1.1\r\nHost: shop.test\r\nAccept: */*\r\n\r\n"), w);
  assert.equal(
    out,
    "GET /x HTTP/1.1\r\nHost: shop.test\r\nAccept: */*\r\nX-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: http\r\n" +
      'X-Forwarded-Host: shop.test\r\nForwarded: for=10.1.2.3;host="shop.test";proto=http\r\nX-Request-Id: rid-1\r\n',
  );
});

test("rewrite - hop-by-hop fields go, a client's forwarding fields are replaced, a request id is kept", () => {
  const text =
    "POST /o HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n" +
    "X-Forwarded-For: 1.1.1.1\r\nForwarded: for=1.1.1.1\r\nX-Request-Id: abc\r\nX-Forwarded-Proto: https\r\nContent-Length: 2\r\n\r\n";
  const out = upstreamRequestHead(reqHead(text), w);
  assert.doesNotMatch(out, /X-Hop|Keep-Alive|Connection/i);
  assert.match(out, /X-Forwarded-For: 10\.1\.2\.3\r\n/, "a client's X-Forwarded-For is not believed");
  assert.match(out, /Forwarded: for=10\.1\.2\.3;host="h";proto=http\r\n/);
  assert.doesNotMatch(out, /1\.1\.1\.1/);
  const peer = upstreamRequestHead(reqHead(text), fromPeer);
  assert.match(peer, /X-Forwarded-For: 1\.1\.1\.1, 10\.1\.2\.3\r\n/, "a peer gateway's is extended");
  assert.match(peer, /Forwarded: for=1\.1\.1\.1, for=10\.1\.2\.3;host="h";proto=https\r\n/, "and its proto kept");
  assert.match(out, /X-Forwarded-Proto: http\r\n/, "a client's own X-Forwarded-Proto is not trusted");
  assert.match(out, /X-Request-Id: abc\r\n/);
  assert.doesNotMatch(out, /rid-1/);
  assert.match(out, /Content-Length: 2\r\n/);
});

test("rewrite - a request from another site's gateway keeps its forwarded proto and host; RS-Hop never reaches the app", () => {
  const text =
    "GET / HTTP/1.1\r\nHost: h\r\nRS-Hop: nyc\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.test\r\n\r\n";
  const out = upstreamRequestHead(reqHead(text), fromPeer);
  assert.doesNotMatch(out, /RS-Hop/i);
  assert.match(out, /X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop\.test\r\n/);
  const forged = upstreamRequestHead(reqHead(text), w);
  assert.match(forged, /X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n/, "from a client: replaced");
});

test("rewrite - an app's RS-* response fields are dropped; a peer gateway's are kept", () => {
  const text = "HTTP/1.1 502 Bad Gateway\r\nRS-Error: RS_ERR_TRAFFIC_GATEWAY_NO_BACKEND\r\nContent-Length: 0\r\n\r\n";
  const app = parseResponseHead(text, true);
  assert.ok(app.ok);
  const out = clientResponseHead(app, { close: false, clientMinor: 1, dechunk: false });
  assert.equal(out, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
  const peer = parseResponseHead(text, false);
  assert.ok(peer.ok);
  assert.equal(clientResponseHead(peer, { close: false, clientMinor: 1, dechunk: false }), undefined);
});

test("rewrite - HTTP/1.0 goes upstream as 1.1 with a Host; upgrades keep their Upgrade", () => {
  const out = upstreamRequestHead(reqHead("GET /old HTTP/1.0\r\n\r\n"), w);
  assert.match(out, /^GET \/old HTTP\/1\.1\r\nHost: 127\.10\.2\.1:8080\r\n/);
  const ws = upstreamRequestHead(
    reqHead("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n"),
    w,
  );
  assert.match(ws, /Sec-WebSocket-Key: k\r\n/);
  assert.match(ws, /Connection: Upgrade\r\nUpgrade: websocket\r\n$/);
  assert.equal(clientAddress("::ffff:10.0.0.9"), "10.0.0.9");
});

test("rewrite - responses pass untouched unless a field must go or the connection changes", () => {
  const plain = respHead("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  assert.equal(clientResponseHead(plain, { close: false, clientMinor: 1, dechunk: false }), undefined);
  assert.equal(
    clientResponseHead(plain, { close: true, clientMinor: 1, dechunk: false }),
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
  );
  const node = respHead(
    "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n",
  );
  assert.equal(
    clientResponseHead(node, { close: false, clientMinor: 1, dechunk: false }),
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
  );
  const chunked = respHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  assert.equal(
    clientResponseHead(chunked, { close: true, clientMinor: 0, dechunk: true }),
    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
  );
  const old = respHead("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n");
  assert.equal(
    clientResponseHead(old, { close: false, clientMinor: 0, dechunk: false }),
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
  );
});

test("rewrite - the shared response rewrites say what they were asked for", () => {
  for (const close of [false, true])
    for (const clientMinor of [0, 1] as const)
      for (const dechunk of [false, true]) {
        assert.deepEqual(responseRewrite(close, clientMinor, dechunk), { close, clientMinor, dechunk });
        assert.equal(responseRewrite(close, clientMinor, dechunk), responseRewrite(close, clientMinor, dechunk));
      }
});
