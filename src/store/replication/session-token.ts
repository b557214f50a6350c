// Session tokens: per coordinating node, the HLC of the session's last write through it.
// A read that carries one is answered only from replicas that have received those writes.
// (Merging and encoding tokens is in session-encoding.ts.)

import type { SessionToken } from "../api-types.ts";

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
