// The linger timer, with the gateway in this process on a manual clock and real sockets:
// once the gateway has closed its side of a connection (here after answering a request
// that asked for Connection: close), a client that stops taking the bytes must not hold
// the socket for ever. The answer
// is larger than the kernel's socket buffers can hold, so a client that does not read
// leaves the gateway with bytes it can never send.
// Addresses: 127.248.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { createLogger, ManualClock, seededRandom } from "../src/core/index.ts";
import { parsePlanet } from "../src/topology/index.ts";
import { Gateway, PlanetInstanceSource } from "../src/traffic/index.ts";
import { sleep, waitFor } from "./support/gateway-cluster.ts";

const planet = parsePlanet(
  "name: l\nzone: l.test.\nsites:\n  - { name: l, city: L, lat: 0, lon: 0, subnet: 127.248.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 1 } }\n",
);
const clock = new ManualClock();
const gw = { host: "127.248.2.1", port: 8080 };
const lingerTimeoutMs = 1_000;
/** Far more than loopback socket buffers take from a client that does not read (wmem max 4 MiB here). */
const bigBytes = 24 * 1024 * 1024;
const big = `# ${"x".repeat(bigBytes)}\n`;
let gateway: Gateway;

before(async () => {
  gateway = new Gateway({
    planet,
    site: "l",
    source: new PlanetInstanceSource(planet, "l"),
    leaveDnsMs: 0,
    clock,
    random: seededRandom(7),
    probe: async () => true,
    log: createLogger({}, { level: "error" }),
    settings: { lingerTimeoutMs },
    // The metrics page is the gateway's own answer: written whole, then the connection is closed.
    metricsExtra: () => big,
  });
  await gateway.start();
});
after(() => gateway.stop({ fast: true }));

/** Moves the manual clock in steps so the gateway's sweep runs. */
async function advance(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    clock.advance(50);
    await sleep(1);
  }
}

const openConnections = (): number => {
  const line = gateway.metrics
    .render()
    .split("\n")
    .find((l) => l.startsWith("rs_gateway_client_connections "));
  return Number(line?.split(" ")[1]);
};

type Client = {
  socket: Socket;
  bytes: () => number;
  closed: () => boolean;
  /** Reads about `n` more bytes, then stops reading again. */
  readSome: (n: number) => void;
};

/** Asks for the big answer with Connection: close, and reads nothing until told to. */
function askAndStall(): Client {
  let bytes = 0;
  let closed = false;
  let quota = 0;
  const socket = connect(gw);
  // Paused before it connects: the socket never reads, so the kernel buffers fill and stay full.
  socket.pause();
  socket.on("data", (d: Buffer) => {
    bytes += d.length;
    quota -= d.length;
    if (quota <= 0) socket.pause();
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closed = true;
  });
  socket.write("GET /_redshirt/metrics HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n");
  const readSome = (n: number): void => {
    quota = n;
    socket.resume();
  };
  return { socket, bytes: () => bytes, closed: () => closed, readSome };
}

test("gateway linger - a client that stops reading after the gateway closed its side is dropped after the linger timeout", async () => {
  const c = askAndStall();
  try {
    assert.ok((await waitFor(() => openConnections() === 1, 2_000)) >= 0, "the connection is open");
    // Let the gateway write what the kernel takes and close its side.
    await sleep(300);
    await advance(lingerTimeoutMs - 200);
    assert.equal(openConnections(), 1, "before the linger timeout the connection is kept");
    assert.equal(gateway.metrics.closes.get("linger"), 0);
    await advance(400);
    assert.ok((await waitFor(() => openConnections() === 0, 2_000)) >= 0, "dropped after the linger timeout");
    assert.equal(gateway.metrics.closes.get("linger"), 1);
    // The client, reading again, finds a connection that ends before the answer did.
    c.readSome(Number.POSITIVE_INFINITY);
    assert.ok((await waitFor(c.closed, 5_000)) >= 0, "the client sees the connection end");
    assert.ok(c.bytes() < bigBytes, `got ${c.bytes()} of more than ${bigBytes} bytes`);
  } finally {
    c.socket.destroy();
  }
});
