// Users who find the service as a browser does: ask the GSLB DNS (a real query on the wire,
// with their region's client subnet), keep the answer for its TTL, GET through the first
// address and, when a connection fails before any response, the next one — nothing more.
// Any other failure (a 5xx, a reset after the request went out, a timeout) is an error the
// user saw. For the evacuate test and bench:sun.
import dgram from "node:dgram";
import dnsPacket from "dns-packet";
import { request } from "undici";
import { buildQuery } from "../../src/traffic/dns/testing.ts";

export type DnsUsersOptions = {
  readonly dnsServers: readonly { readonly host: string; readonly port: number }[];
  readonly name: string;
  readonly gatewayPort: number;
  /** The users' client subnet, e.g. { ip: "10.1.0.0", prefix: 16 }. */
  readonly ecs: { readonly ip: string; readonly prefix: number };
  readonly users: number;
  /** Pause between one user's requests. */
  readonly thinkMs: number;
  /** The longest a user keeps an answer (the answer's TTL when shorter). */
  readonly ttlMsMax?: number;
  /** Which site an address belongs to (for the per-site count). */
  readonly siteOf: (host: string) => string;
};

export type DnsUsersResult = {
  readonly sent: number;
  readonly ok: number;
  readonly errors: readonly string[];
  /** Requests answered, by the site whose gateway the user connected to. */
  readonly bySite: Readonly<Record<string, number>>;
  /** Requests that had to try a next address (a failed connection hidden by the client). */
  readonly nextAddress: number;
};

/** What a resolver needs to ask the GSLB DNS for the service as a user of one region. */
export type ServiceQuery = Pick<DnsUsersOptions, "dnsServers" | "name" | "ecs" | "ttlMsMax">;

/** Asks the DNS servers in turn (a real UDP query with the client subnet) for the service's A records, in answer order. */
export async function resolveService(o: ServiceQuery): Promise<{ addresses: string[]; ttlMs: number }> {
  let lastErr: unknown;
  for (const server of o.dnsServers) {
    const socket = dgram.createSocket("udp4");
    try {
      const id = Math.floor(Math.random() * 65_536);
      const reply = await new Promise<Buffer>((done, fail) => {
        const timer = setTimeout(() => fail(new Error(`${server.host}: no DNS answer in 1 s`)), 1_000);
        socket.on("message", (m) => {
          if (m.readUInt16BE(0) !== id) return;
          clearTimeout(timer);
          done(m);
        });
        socket.once("error", (e) => {
          clearTimeout(timer);
          fail(e);
        });
        socket.send(buildQuery({ name: o.name, id, edns: { ecs: { ...o.ecs } } }), server.port, server.host);
      });
      const p = dnsPacket.decode(reply);
      const a = (p.answers ?? []).filter((x) => x.type === "A") as dnsPacket.StringAnswer[];
      if (a.length === 0) throw new Error(`${server.host}: no A records (flags ${p.flags})`);
      return { addresses: a.map((x) => x.data), ttlMs: Math.min((a[0].ttl ?? 5) * 1000, o.ttlMsMax ?? 5_000) };
    } catch (err) {
      lastErr = err;
    } finally {
      socket.close();
    }
  }
  throw lastErr;
}

/** A failure before any byte of a response came back: the connection, not the request. */
function neverConnected(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? "";
  return ["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"].includes(code);
}

export function startDnsUsers(o: DnsUsersOptions): { stop(): Promise<DnsUsersResult> } {
  let running = true;
  let sent = 0;
  let ok = 0;
  let nextAddress = 0;
  const errors: string[] = [];
  const bySite: Record<string, number> = {};
  const user = async (): Promise<void> => {
    let answer: { addresses: string[]; ttlMs: number; atMs: number } | undefined;
    while (running) {
      sent++;
      try {
        if (!answer || performance.now() - answer.atMs > answer.ttlMs) {
          answer = { ...(await resolveService(o)), atMs: performance.now() };
        }
        let served = false;
        for (const [i, host] of answer.addresses.entries()) {
          try {
            const res = await request(`http://${host}:${o.gatewayPort}/`, {
              headersTimeout: 10_000,
              bodyTimeout: 10_000,
            });
            const body = await res.body.text();
            if (res.statusCode !== 200) errors.push(`${host}: HTTP ${res.statusCode} ${body.slice(0, 160)}`);
            else {
              ok++;
              bySite[o.siteOf(host)] = (bySite[o.siteOf(host)] ?? 0) + 1;
            }
            if (i > 0) nextAddress++;
            served = true;
            break;
          } catch (err) {
            if (!neverConnected(err)) throw err;
          }
        }
        if (!served) errors.push(`no address of ${answer.addresses.join(", ")} took a connection`);
      } catch (err) {
        errors.push((err as Error).message);
      }
      if (o.thinkMs > 0) await new Promise((r) => setTimeout(r, o.thinkMs));
    }
  };
  const users = Array.from({ length: o.users }, () => user());
  return {
    async stop() {
      running = false;
      await Promise.all(users);
      return { sent, ok, errors, bySite, nextAddress };
    },
  };
}
