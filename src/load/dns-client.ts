// A stub resolver as a user's browser and OS have one: a real DNS query on the wire (UDP,
// and TCP when the answer comes back truncated) carrying the user's EDNS Client Subnet,
// sent to the GSLB DNS servers in the user's order of preference (the next one when one
// does not answer in time). The answer keeps the servers' order of addresses (the nearest
// healthy site first) and its TTL, which the user honours (UserDns below).
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket from "dns-packet";
import type { Clock, Random } from "../core/index.ts";
import type { HostPort } from "../topology/index.ts";
import { dnsAddressesMax, dnsTcpAnswerBytesMax, dnsTimeoutMsDefault, dnsUdpPayloadBytes } from "./constants.ts";
import { loadErrors } from "./errors.ts";

export type ClientSubnet = { readonly ip: string; readonly prefix: number };

export type DnsAnswer = {
  /** A records in the order the server gave them (its preference). */
  readonly addresses: readonly string[];
  readonly ttlS: number;
  /** Which server answered (the address dialed). */
  readonly server: string;
  /** Whether the answer needed TCP (the UDP answer was truncated). */
  readonly overTcp: boolean;
  /** The Client Subnet the server echoed (what it located us by), if any. */
  readonly ecs?: { readonly ip: string; readonly sourcePrefix: number; readonly scopePrefix: number };
};

export type DnsClientOptions = {
  /** Where to send queries (already the dial addresses), in order of preference. */
  readonly servers: readonly HostPort[];
  readonly ecs: ClientSubnet;
  /** Source address of the queries (the region's block on this machine), if any. */
  readonly localAddress?: string;
  readonly timeoutMs?: number;
};

export function buildAQuery(name: string, id: number, ecs: ClientSubnet): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: "A", class: "IN" }],
    additionals: [
      {
        name: ".",
        type: "OPT",
        udpPayloadSize: dnsUdpPayloadBytes,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [{ code: 8, family: 1, sourcePrefixLength: ecs.prefix, scopePrefixLength: 0, ip: ecs.ip }],
      } as dnsPacket.OptAnswer,
    ],
  });
}

function withTimeout<T>(
  clock: Clock,
  timeoutMs: number,
  what: string,
  run: (done: (v: T) => void, fail: (e: Error) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let cleanup: () => void = () => {};
    const timer = clock.setTimer(timeoutMs, () =>
      finish(() => reject(new Error(`${what}: no answer in ${timeoutMs} ms`))),
    );
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      cleanup();
      f();
    };
    cleanup = run(
      (v) => finish(() => resolve(v)),
      (e) => finish(() => reject(e)),
    );
  });
}

function queryUdp(
  clock: Clock,
  server: HostPort,
  query: Buffer,
  id: number,
  timeoutMs: number,
  localAddress?: string,
): Promise<Buffer> {
  return withTimeout(clock, timeoutMs, `DNS ${server.host}:${server.port} (udp)`, (done, fail) => {
    const socket = dgram.createSocket("udp4");
    socket.on("message", (m) => {
      // A stray datagram (an earlier query's late answer) is not ours: keep waiting.
      if (m.length >= 2 && m.readUInt16BE(0) === id) done(m);
    });
    socket.on("error", fail);
    socket.bind({ address: localAddress, port: 0 }, () =>
      socket.send(query, server.port, server.host, (err) => err && fail(err)),
    );
    return () => socket.close();
  });
}

function queryTcp(
  clock: Clock,
  server: HostPort,
  query: Buffer,
  timeoutMs: number,
  localAddress?: string,
): Promise<Buffer> {
  return withTimeout(clock, timeoutMs, `DNS ${server.host}:${server.port} (tcp)`, (done, fail) => {
    const socket = net.connect({ host: server.host, port: server.port, localAddress });
    const frame = Buffer.alloc(2 + query.length);
    frame.writeUInt16BE(query.length, 0);
    query.copy(frame, 2);
    let got = Buffer.alloc(0);
    socket.on("connect", () => socket.write(frame));
    socket.on("data", (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.length > 2 + dnsTcpAnswerBytesMax) return fail(new Error("DNS answer over TCP too large"));
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) done(got.subarray(2, 2 + got.readUInt16BE(0)));
    });
    socket.on("error", fail);
    socket.on("end", () => fail(new Error("DNS server closed the TCP connection before answering")));
    return () => socket.destroy();
  });
}

/** The addresses and TTL of a response to our query, or an error saying what was wrong with it. */
type ReadAnswer = { addresses: string[]; ttlS: number; truncated: boolean; ecs?: DnsAnswer["ecs"] };

function echoedSubnet(p: dnsPacket.DecodedPacket): DnsAnswer["ecs"] {
  const opt = (p.additionals ?? []).find((a) => a.type === "OPT") as dnsPacket.OptAnswer | undefined;
  const ecs = opt?.options?.find((o) => o.code === 8) as
    | { ip?: string; sourcePrefixLength?: number; scopePrefixLength?: number }
    | undefined;
  return ecs?.ip === undefined
    ? undefined
    : { ip: ecs.ip, sourcePrefix: ecs.sourcePrefixLength ?? 0, scopePrefix: ecs.scopePrefixLength ?? 0 };
}

export function readAnswer(reply: Buffer, name: string, id: number): ReadAnswer {
  // dns-packet decodes rcode as a name; its types do not declare it.
  const p = dnsPacket.decode(reply) as dnsPacket.DecodedPacket & { rcode?: string };
  if (p.id !== id || p.type !== "response") throw new Error("not the response to our query");
  const truncated = ((p.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) !== 0;
  if (truncated) return { addresses: [], ttlS: 0, truncated };
  if (p.rcode !== "NOERROR") throw new Error(`rcode ${p.rcode}`);
  const want = name.replace(/\.$/, "").toLowerCase();
  const a = (p.answers ?? []).filter(
    (x): x is dnsPacket.StringAnswer => x.type === "A" && x.name.replace(/\.$/, "").toLowerCase() === want,
  );
  if (a.length === 0) throw new Error("no A records");
  const ecs = echoedSubnet(p);
  return {
    addresses: a.slice(0, dnsAddressesMax).map((x) => x.data),
    ttlS: Math.min(...a.map((x) => x.ttl ?? 0)),
    truncated,
    ...(ecs ? { ecs } : {}),
  };
}

export class DnsClient {
  readonly #options: DnsClientOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  queries = 0;

  constructor(options: DnsClientOptions, components: { clock: Clock; random: Random }) {
    if (options.servers.length === 0) throw loadErrors.create("RS_ERR_LOAD_DNS", "the planet has no DNS servers");
    this.#options = options;
    this.#clock = components.clock;
    this.#random = components.random;
  }

  /** Asks each server in turn until one answers with A records; throws RS_ERR_LOAD_DNS naming every failure. */
  async resolve(name: string): Promise<DnsAnswer> {
    const timeoutMs = this.#options.timeoutMs ?? dnsTimeoutMsDefault;
    const failures: string[] = [];
    for (const server of this.#options.servers) {
      const id = this.#random.int(65_536);
      const query = buildAQuery(name, id, this.#options.ecs);
      try {
        this.queries++;
        let answer = readAnswer(
          await queryUdp(this.#clock, server, query, id, timeoutMs, this.#options.localAddress),
          name,
          id,
        );
        let overTcp = false;
        if (answer.truncated) {
          overTcp = true;
          answer = readAnswer(
            await queryTcp(this.#clock, server, query, timeoutMs, this.#options.localAddress),
            name,
            id,
          );
        }
        return {
          addresses: answer.addresses,
          ttlS: answer.ttlS,
          server: `${server.host}:${server.port}`,
          overTcp,
          ...(answer.ecs ? { ecs: answer.ecs } : {}),
        };
      } catch (err) {
        failures.push(`${server.host}:${server.port}: ${(err as Error).message}`);
      }
    }
    throw loadErrors.create("RS_ERR_LOAD_DNS", `${name}: ${failures.join("; ")}`);
  }
}

/**
 * One user's view of the service's addresses: the last answer, kept for its TTL (never
 * longer), asked again when it expired or when the user found every address failing.
 */
export class UserDns {
  readonly #client: DnsClient;
  readonly #clock: Clock;
  readonly #name: string;
  #answer: (DnsAnswer & { expiresAtMs: number }) | undefined;
  resolutions = 0;

  constructor(client: DnsClient, clock: Clock, name: string) {
    this.#client = client;
    this.#clock = clock;
    this.#name = name;
  }

  /** The answer in use (undefined before the first). */
  get answer(): DnsAnswer | undefined {
    return this.#answer;
  }

  async addresses(options: { fresh?: boolean } = {}): Promise<readonly string[]> {
    const now = this.#clock.monoMs();
    if (!options.fresh && this.#answer && now < this.#answer.expiresAtMs) return this.#answer.addresses;
    const answer = await this.#client.resolve(this.#name);
    this.resolutions++;
    this.#answer = { ...answer, expiresAtMs: this.#clock.monoMs() + answer.ttlS * 1_000 };
    return answer.addresses;
  }
}
