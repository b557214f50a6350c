// Replication as the store nodes report it on their open /metrics: per site the pending
// hints (log entries some target has not acknowledged, summed over the site's nodes) and the
// replication lag (how far behind now the streams from other sites are, the worst of the
// site's nodes). A node that does not answer (killed, or its site down) is left out.
import { request } from "undici";
import type { Planet } from "../topology/index.ts";
import { lagMsShownMax } from "./constants.ts";

export type Replication = {
  readonly lagMsBySite: readonly (number | null)[];
  readonly hintsBySite: readonly (number | null)[];
};

/** The values of one metric in Prometheus text, its labels dropped. */
export function metricValues(text: string, name: string): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    const v = Number(rest.slice(rest.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) out.push(v);
  }
  return out;
}

/** The values of one metric in Prometheus text by one of its labels (lines without it are left out). */
export function metricValuesBy(text: string, name: string, label: string): [string, number][] {
  const out: [string, number][] = [];
  const want = `${label}="`;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const at = line.indexOf(want);
    const close = line.indexOf("}");
    if (at < 0 || close < at) continue;
    const end = line.indexOf('"', at + want.length);
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (end > 0 && Number.isFinite(v)) out.push([line.slice(at + want.length, end), v]);
  }
  return out;
}

/** One process's Prometheus text, or null when it does not answer (onFailure is told why). */
export async function scrapeNode(
  host: string,
  port: number,
  timeoutMs: number,
  onFailure: (err: unknown) => void,
  path = "/metrics",
): Promise<string | null> {
  try {
    const res = await request(`http://${host}:${port}${path}`, {
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    return text;
  } catch (err) {
    // Not answering is what a killed node does: counted by the caller; the chart shows the gap.
    onFailure(err);
    return null;
  }
}

export async function scrapeReplication(
  planet: Planet,
  timeoutMs: number,
  onFailure: (node: string, err: unknown) => void,
): Promise<Replication> {
  const texts = await Promise.all(
    planet.storeNodes.map((n) => scrapeNode(n.host, n.port, timeoutMs, (err) => onFailure(n.id, err))),
  );
  const lagMsBySite: (number | null)[] = [];
  const hintsBySite: (number | null)[] = [];
  for (const site of planet.sites) {
    const mine = planet.storeNodes.flatMap((n, i) =>
      n.site === site.name && texts[i] !== null ? [texts[i] as string] : [],
    );
    if (mine.length === 0) {
      lagMsBySite.push(null);
      hintsBySite.push(null);
      continue;
    }
    // A peer site not heard from yet reports its lag from the epoch: no figure, not decades.
    const lags = mine.flatMap((t) => metricValues(t, "redshirt_store_replication_lag_ms"));
    lagMsBySite.push(lags.some((l) => l > lagMsShownMax) ? null : Math.max(0, ...lags));
    hintsBySite.push(mine.flatMap((t) => metricValues(t, "redshirt_store_hints_pending")).reduce((a, b) => a + b, 0));
  }
  return { lagMsBySite, hintsBySite };
}
