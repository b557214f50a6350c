// Assertions catch programmer errors: a broken invariant means this process can no longer
// be trusted, so it crashes and the supervisor replaces it. Operating conditions (a peer
// is down, a request is bad) are typed errors instead, never assertions.

export class AssertionFailed extends Error {
  override name = "AssertionFailed";
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionFailed(message);
}
