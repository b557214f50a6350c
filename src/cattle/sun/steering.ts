// How a supervisor steers users to or away from its site: its site's weight on every DNS
// server of the planet (PUT /_redshirt/dns/weights/<site>, with the planet's control token),
// and a check of what the DNS servers answer (a real query on the wire: does the answer list
// any gateway of the site?). Every DNS server is asked, each dialed where the topology says
// (through the WAN links when emulated), in parallel, each bounded. Nothing here throws: a
// server that fails is counted and reported as not confirmed, and the caller keeps waiting.
import dgram from "node:dgram";
import dnsPacket from "dns-packet";
import { request } from "undici";
import { controlBearerToken, type Logger } from "../../core/index.ts";
import { dialAddress, dnsAdminOf, type NodeInfo, type Planet } from "../../topology/index.ts";
import { dnsConstants } from "../../traffic/index.ts";
import type { SupervisorMetrics } from "../supervisor/metrics.ts";

/** What the DNS servers hold for the site's weight. */
export type WeightCheck = { readonly confirmed: number; readonly total: number };
/** What the DNS servers answer: how many answered, and how many of those list the site. */
export type AnswerCheck = { readonly listing: number; readonly answered: number; readonly total: number };

export type DnsSteering = {
  /** Makes every DNS server hold `weight` for the site (writes only where it differs). */
  ensureWeight(weight: number): Promise<WeightCheck>;
  /** Asks every DNS server for the service name and looks for the site's gateways in the answer. */
  checkAnswers(): Promise<AnswerCheck>;
};

const steeringTimeoutMs = 1_000;

class NoAnswer extends Error {}

function unreachable(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? "";
  return (
    err instanceof NoAnswer ||
    [
      "ECONNREFUSED",
      "ECONNRESET",
      "EHOSTUNREACH",
      "ENETUNREACH",
      "UND_ERR_CONNECT_TIMEOUT",
      "UND_ERR_HEADERS_TIMEOUT",
      "UND_ERR_SOCKET",
    ].includes(code)
  );
}

export function dnsSteering(o: {
  readonly planet: Planet;
  readonly site: string;
  readonly secret: Buffer;
  readonly log: Logger;
  readonly metrics: SupervisorMetrics;
}): DnsSteering {
  const { planet, site, metrics, log } = o;
  const token = controlBearerToken(o.secret);
  const gatewayHosts = new Set(planet.gateways.filter((g) => g.site === site).map((g) => g.host));
  const name = `${planet.services[0]}.${planet.zone.replace(/\.$/, "")}`;
  const selfHost = planet.supervisors.find((s) => s.site === site)?.host;
  let failuresLogged = 0;
  const failed = (what: string, server: NodeInfo, err: unknown): void => {
    // A server that is not there (booting, dead, cut off) is an operating condition, counted
    // apart; a server that answers wrongly is a fault.
    if (unreachable(err)) metrics.steeringUnreachable.inc({ server: server.id });
    else metrics.steeringFailures.inc({ what, server: server.id });
    // The first of each run, then every 50th: a DNS server down for a while must not flood the log.
    if (failuresLogged++ % 50 === 0) log.warn("dns steering call failed", { what, server: server.id, err });
  };
  // Each DNS server's admin endpoint is on its management address (.7.k), not its DNS address.
  const admin = (d: NodeInfo) => dialAddress(planet, site, dnsAdminOf(planet, d));

  async function ensureOne(d: NodeInfo, weight: number): Promise<boolean> {
    const a = admin(d);
    const base = `http://${a.host}:${a.port}/_redshirt/dns/weights`;
    try {
      const got = await request(base, { headersTimeout: steeringTimeoutMs, bodyTimeout: steeringTimeoutMs });
      const body = (await got.body.json()) as { entries?: Record<string, { weight?: number }> };
      if (got.statusCode === 200 && (body.entries?.[site]?.weight ?? dnsConstants.weightDefault) === weight)
        return true;
      metrics.weightWrites.inc({ server: d.id });
      const put = await request(`${base}/${site}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ weight }),
        headersTimeout: steeringTimeoutMs,
        bodyTimeout: steeringTimeoutMs,
      });
      const text = await put.body.text();
      if (put.statusCode === 200) return true;
      failed("weight-write", d, new Error(`HTTP ${put.statusCode}: ${text.slice(0, 200)}`));
      return false;
    } catch (err) {
      failed("weight", d, err);
      return false;
    }
  }

  async function askOne(d: NodeInfo): Promise<boolean | undefined> {
    const to = dialAddress(planet, site, { site: d.site, host: d.host, port: d.port });
    const socket = dgram.createSocket("udp4");
    try {
      const id = Math.floor(Math.random() * 65_536);
      const query = dnsPacket.encode({
        type: "query",
        id,
        flags: 0,
        questions: [{ type: "A", name }],
        additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232 } as dnsPacket.Answer],
      });
      const answer = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new NoAnswer(`no DNS answer within ${steeringTimeoutMs} ms`)),
          steeringTimeoutMs,
        );
        socket.on("message", (m) => {
          if (m.length >= 2 && m.readUInt16BE(0) === id) {
            clearTimeout(timer);
            resolve(m);
          }
        });
        socket.once("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
        const send = () => socket.send(query, to.port, to.host);
        // From the supervisor's own address: the DNS server locates the asker by it.
        if (selfHost) socket.bind(0, selfHost, send);
        else send();
      });
      const decoded = dnsPacket.decode(answer);
      if (decoded.flags !== undefined && (decoded.flags & dnsPacket.TRUNCATED_RESPONSE) !== 0) {
        throw new Error("truncated answer: more gateways than fit 1232 bytes");
      }
      return (decoded.answers ?? []).some((a) => a.type === "A" && gatewayHosts.has(String(a.data)));
    } catch (err) {
      failed("answer", d, err);
      return undefined;
    } finally {
      socket.close();
    }
  }

  return {
    async ensureWeight(weight) {
      const results = await Promise.all(planet.dnsServers.map((d) => ensureOne(d, weight)));
      return { confirmed: results.filter(Boolean).length, total: results.length };
    },
    async checkAnswers() {
      const results = await Promise.all(planet.dnsServers.map((d) => askOne(d)));
      return {
        listing: results.filter((r) => r === true).length,
        answered: results.filter((r) => r !== undefined).length,
        total: results.length,
      };
    },
  };
}
