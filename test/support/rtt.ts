// Measuring a path's round trip on a shared machine. The round trip of a path is its
// smallest sample, as ping's min: CPU contention (other test files start a dozen processes
// at once, other work shares the two cores) only ever adds to a sample, never takes away,
// so the minimum is the delay the path itself adds. Samples come in rounds of 7, and a
// round that a busy machine spoiled is followed by another (at most 3, 300 ms apart), so a
// quiet moment is found; a link with the wrong delay fails every round.

export const samplesPerRound = 7;
export const roundsMax = 3;

/** The smallest of the samples, taking more rounds while it is above wantMs + 10 %. */
export async function pathRtt(sample: (i: number) => Promise<number>, wantMs: number): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < roundsMax && best > wantMs * 1.1; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < samplesPerRound; i++) best = Math.min(best, await sample(round * samplesPerRound + i));
  }
  return best;
}
