// Session tokens: per coordinating node, the HLC of the session's last write through it.
// A read that carries one is answered only from replicas that have received those writes.

import type { SessionToken } from "./api-types.ts";
import { tokenEntriesMax } from "./engine-constants.ts";

/** Per-node maximum of two tokens, keeping the newest entries when over the bound. */
export function mergeTokens(a: SessionToken | undefined, b: SessionToken | undefined): SessionToken {
  const out: Record<string, number> = { ...(a ?? {}) };
  for (const [node, h] of Object.entries(b ?? {})) if (!(node in out) || out[node] < h) out[node] = h;
  const entries = Object.entries(out);
  if (entries.length <= tokenEntriesMax) return out;
  entries.sort((x, y) => y[1] - x[1]);
  return Object.fromEntries(entries.slice(0, tokenEntriesMax));
}

/** True when, for every node in the token, some responder has received its writes up to the token's HLC. */
export function tokenSatisfied(
  token: SessionToken | undefined,
  responders: Iterable<{ readonly recv: ReadonlyMap<string, number> }>,
): boolean {
  if (!token) return true;
  const list = [...responders];
  for (const [node, h] of Object.entries(token)) {
    if (!list.some((r) => (r.recv.get(node) ?? 0) >= h)) return false;
  }
  return true;
}
