// The rule that keeps a partition from looking like a dead site: a gateway counts as down
// only when enough vantage points agree. Each DNS server probes every gateway itself (its
// own view) and reads the views of the other DNS servers; views older than peerViewStaleMs
// do not vote, and neither does a view that has no result yet for that gateway.
//   voters  down votes needed
//     0     never down (no information: keep it)
//     1     1   (a lone DNS server, or one that reaches no peer, trusts itself)
//     2     2   (both must agree)
//     n≥3   a majority, and at least 2
// So a site cut off from one DNS server stays in the answers; a site that every vantage
// point sees down leaves them.

export type Vote = "up" | "down";

export function downVotesNeeded(voters: number): number {
  if (voters <= 1) return 1;
  return Math.max(2, Math.floor(voters / 2) + 1);
}

/** Whether a gateway is up given the votes of the fresh views that have one. */
export function upByVotes(votes: readonly Vote[]): boolean {
  if (votes.length === 0) return true;
  let down = 0;
  for (const v of votes) if (v === "down") down++;
  return down < downVotesNeeded(votes.length);
}
