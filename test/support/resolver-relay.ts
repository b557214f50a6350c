// What a browser's resolver and connection fallback do, for a browser that cannot ask our
// GSLB DNS itself. Chromium resolves names through the system resolver (port 53 of
// /etc/resolv.conf, shared by the whole machine), so it cannot be pointed at a planet's DNS
// servers on their test port. Instead the browser maps the service name to this relay
// (`--host-resolver-rules`), and the relay does, per TCP connection, exactly what the
// browser's own stack would: ask the GSLB DNS (a real query on the wire, with the user's
// region as client subnet), keep the answer for its TTL, connect to the first address and,
// when that connection fails, to the next one. It forwards bytes unchanged and never looks
// at HTTP, so what the browser sends and gets is the gateway's, byte for byte; a connection
// that breaks after it was made breaks for the browser too.
import net from "node:net";
import { resolveService, type ServiceQuery } from "./dns-users.ts";

export type RelayConnection = {
  readonly atMs: number;
  /** The addresses of the DNS answer in use, in order. */
  readonly answer: readonly string[];
  /** The address that took the connection (undefined: none did). */
  readonly address: string | undefined;
  /** Addresses whose connection failed before it (what the fallback hid). */
  readonly failed: readonly string[];
  /** Why the relay had no answer to use (the DNS did not answer), if so. */
  readonly dnsError?: string;
};

export type ResolverRelay = {
  readonly host: string;
  readonly port: number;
  /** Every connection the browser made, in order (at most connectionsMax kept). */
  readonly connections: readonly RelayConnection[];
  /** Every DNS answer the relay got, in order. */
  readonly answers: readonly { readonly atMs: number; readonly addresses: readonly string[] }[];
  close(): Promise<void>;
};

const connectTimeoutMs = 2_000;
const connectionsMax = 10_000;

function dial(host: string, port: number): Promise<net.Socket> {
  return new Promise((done, fail) => {
    const s = net.connect({ host, port });
    const failed = (err: Error) => {
      clearTimeout(timer);
      fail(err);
    };
    const timer = setTimeout(
      () => s.destroy(new Error(`${host}:${port}: no connection in ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    s.once("error", failed);
    s.once("connect", () => {
      clearTimeout(timer);
      s.removeListener("error", failed);
      done(s);
    });
  });
}

/** Listens on host:port and relays each connection to the service's gateways on gatewayPort. */
export async function startResolverRelay(o: {
  readonly host: string;
  readonly port: number;
  readonly gatewayPort: number;
  readonly query: ServiceQuery;
}): Promise<ResolverRelay> {
  const connections: RelayConnection[] = [];
  const answers: { atMs: number; addresses: string[] }[] = [];
  let cached: { addresses: string[]; expiresAtMs: number } | undefined;
  let resolving: Promise<string[]> | undefined;
  const open = new Set<net.Socket>();

  const currentAnswer = async (): Promise<string[]> => {
    if (cached && performance.now() < cached.expiresAtMs) return cached.addresses;
    resolving ??= resolveService(o.query)
      .then((a) => {
        cached = { addresses: a.addresses, expiresAtMs: performance.now() + a.ttlMs };
        if (answers.length < connectionsMax) answers.push({ atMs: performance.now(), addresses: a.addresses });
        return a.addresses;
      })
      .finally(() => {
        resolving = undefined;
      });
    return await resolving;
  };

  const server = net.createServer({ pauseOnConnect: true }, async (client) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    client.on("error", () => client.destroy());
    const atMs = performance.now();
    const failed: string[] = [];
    let answer: string[] = [];
    let upstream: net.Socket | undefined;
    let dnsError: string | undefined;
    try {
      answer = await currentAnswer();
      for (const address of answer) {
        try {
          upstream = await dial(address, o.gatewayPort);
          break;
        } catch {
          failed.push(address);
        }
      }
    } catch (err) {
      // No DNS answer: the browser sees its connection fail, as it would without a resolver;
      // the reason stays in the connection's record for the test to show.
      dnsError = (err as Error).message;
    }
    if (connections.length < connectionsMax)
      connections.push({ atMs, answer, address: upstream?.remoteAddress, failed, dnsError });
    if (!upstream || client.destroyed) {
      upstream?.destroy();
      client.destroy();
      return;
    }
    const up = upstream;
    open.add(up);
    up.once("close", () => {
      open.delete(up);
      client.destroy();
    });
    up.on("error", () => up.destroy());
    client.once("close", () => up.destroy());
    client.pipe(up);
    up.pipe(client);
    client.resume();
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(o.port, o.host, () => done());
  });
  return {
    host: o.host,
    port: o.port,
    connections,
    answers,
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
