// The behaviour every Transport must show, as one suite run against the TCP transport
// (real sockets, real time) and the simulated network (a ManualClock), so the simulation
// tests the engine against the contract production gives it.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Transport, WireMessage } from "../wire/transport.ts";

export type TransportClusterOptions = {
  readonly sendQueueBytesMax?: number;
  readonly frameBytesMax?: number;
};

export type TransportCluster = {
  /** The current transport of a node. */
  transport(id: string): Transport;
  /** A new transport object for a node, as its restarted process would make; the old one is stopped. */
  recreate(id: string): Promise<Transport>;
  /** Lets (real or simulated) time pass until cond() holds; false if budgetMs passed first. */
  waitFor(cond: () => boolean, budgetMs: number): Promise<boolean>;
  /** Stops everything. */
  close(): Promise<void>;
};

export type TransportHarness = {
  create(ids: readonly string[], options?: TransportClusterOptions): Promise<TransportCluster>;
};

type Inbox = { from: string; message: WireMessage }[];
type Changes = [peer: string, up: boolean][];

function record(t: Transport): { inbox: Inbox; changes: Changes } {
  const inbox: Inbox = [];
  const changes: Changes = [];
  t.onMessage((from, message) => inbox.push({ from, message }));
  t.onPeerChange((peer, up) => changes.push([peer, up]));
  return { inbox, changes };
}

const upBudgetMs = 5_000;

export function transportCompliance(name: string, harness: TransportHarness): void {
  const withCluster = (
    title: string,
    ids: readonly string[],
    fn: (c: TransportCluster) => Promise<void>,
    options?: TransportClusterOptions,
  ): void => {
    test(`${name} - ${title}`, async () => {
      const c = await harness.create(ids, options);
      try {
        await fn(c);
      } finally {
        await c.close();
      }
    });
  };
  const allUp = (c: TransportCluster, ids: readonly string[]): boolean =>
    ids.every((a) => ids.every((b) => a === b || c.transport(a).isUp(b)));

  withCluster("start twice, stop twice and stop without start are harmless", ["a", "b"], async (c) => {
    const a = c.transport("a");
    const b = c.transport("b");
    await b.stop();
    await Promise.all([a.start(), a.start()]);
    await a.start();
    await b.start();
    assert.ok(await c.waitFor(() => allUp(c, ["a", "b"]), upBudgetMs), "both see each other up");
    await a.stop();
    await a.stop();
    assert.equal(a.isUp("b"), false);
    assert.equal(a.send("b", ["after stop"]), false);
    await a.start();
    assert.ok(await c.waitFor(() => allUp(c, ["a", "b"]), upBudgetMs), "a restarted transport comes back up");
  });

  withCluster("send refuses unknown peers, itself, and anything before start", ["a", "b"], async (c) => {
    const a = c.transport("a");
    assert.equal(a.send("b", ["early"]), false);
    assert.equal(a.isUp("b"), false);
    await a.start();
    await c.transport("b").start();
    assert.ok(await c.waitFor(() => allUp(c, ["a", "b"]), upBudgetMs));
    assert.equal(a.send("nobody", ["x"]), false);
    assert.equal(a.isUp("nobody"), false);
    assert.equal(a.send("a", ["x"]), false);
    assert.equal(a.self, "a");
  });

  withCluster("messages between a pair arrive in order, intact, with their sender", ["a", "b", "c"], async (c) => {
    const seen = record(c.transport("b"));
    const atA = record(c.transport("a"));
    for (const id of ["a", "b", "c"]) await c.transport(id).start();
    assert.ok(await c.waitFor(() => allUp(c, ["a", "b", "c"]), upBudgetMs));
    const total = 2_000;
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < total / 20; i++) {
        const n = turn * (total / 20) + i;
        assert.ok(
          c.transport("a").send("b", ["seq", n, { n, hlc: 1_782_784_000_000_000 + n }, new Uint8Array([n % 256])]),
        );
        assert.ok(c.transport("c").send("b", ["seq", n]));
        assert.ok(c.transport("b").send("a", ["back", n]));
      }
      await c.waitFor(() => false, 1);
    }
    assert.ok(await c.waitFor(() => seen.inbox.length === 2 * total && atA.inbox.length === total, 10_000));
    const fromA = seen.inbox.filter((m) => m.from === "a").map((m) => m.message);
    const fromC = seen.inbox.filter((m) => m.from === "c").map((m) => m.message[1]);
    assert.deepEqual(
      fromA.map((m) => m[1]),
      Array.from({ length: total }, (_, n) => n),
    );
    assert.deepEqual(
      fromC,
      Array.from({ length: total }, (_, n) => n),
    );
    assert.deepEqual(fromA[7][2], { n: 7, hlc: 1_782_784_000_000_007 });
    assert.deepEqual([...(fromA[300][3] as Uint8Array)], [300 % 256]);
    assert.deepEqual(
      atA.inbox.map((m) => [m.from, m.message[1]]),
      Array.from({ length: total }, (_, n) => ["b", n]),
    );
  });

  withCluster(
    "a peer that stops is reported down, and up again when it (or its successor) starts",
    ["a", "b"],
    async (c) => {
      const atA = record(c.transport("a"));
      await c.transport("a").start();
      await c.transport("b").start();
      assert.ok(await c.waitFor(() => allUp(c, ["a", "b"]), upBudgetMs));
      assert.deepEqual(atA.changes, [["b", true]]);
      await c.transport("b").stop();
      assert.ok(await c.waitFor(() => !c.transport("a").isUp("b"), upBudgetMs), "a sees b down");
      assert.deepEqual(atA.changes, [
        ["b", true],
        ["b", false],
      ]);
      await c.transport("b").start();
      assert.ok(await c.waitFor(() => c.transport("a").isUp("b"), upBudgetMs), "a sees b up again");
      const b2 = await c.recreate("b");
      const atB2 = record(b2);
      await b2.start();
      assert.ok(await c.waitFor(() => allUp(c, ["a", "b"]) && atA.changes.length === 5, upBudgetMs));
      assert.deepEqual(
        atA.changes.map(([, up]) => up),
        [true, false, true, false, true],
        "up and down alternate",
      );
      assert.ok(c.transport("a").send("b", ["hello", "successor"]));
      assert.ok(await c.waitFor(() => atB2.inbox.length === 1, upBudgetMs));
      assert.deepEqual(atB2.inbox[0], { from: "a", message: ["hello", "successor"] });
    },
  );

  withCluster(
    "large frames arrive whole; a message over the frame bound is refused, not thrown",
    ["a", "b"],
    async (c) => {
      const atB = record(c.transport("b"));
      await c.transport("a").start();
      await c.transport("b").start();
      assert.ok(await c.waitFor(() => allUp(c, ["a", "b"]), upBudgetMs));
      const big = new Uint8Array(1_500_000);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      assert.ok(c.transport("a").send("b", ["big", big]));
      assert.ok(c.transport("a").send("b", ["small"]));
      assert.equal(c.transport("a").send("b", ["too big", new Uint8Array(2_100_000)]), false);
      assert.ok(await c.waitFor(() => atB.inbox.length === 2, 10_000));
      assert.ok(Buffer.from(atB.inbox[0].message[1] as Uint8Array).equals(Buffer.from(big)));
      assert.deepEqual(atB.inbox[1].message, ["small"]);
      assert.ok(c.transport("a").isUp("b"), "the connection survived the refused message");
    },
    { frameBytesMax: 2_000_000, sendQueueBytesMax: 4_000_000 },
  );

  withCluster(
    "the send queue to a peer is bounded in bytes, and frees as it drains",
    ["a", "b"],
    async (c) => {
      const atB = record(c.transport("b"));
      await c.transport("a").start();
      await c.transport("b").start();
      assert.ok(await c.waitFor(() => allUp(c, ["a", "b"]), upBudgetMs));
      const chunk = new Uint8Array(100_000);
      let accepted = 0;
      // One synchronous burst: nothing can drain while it runs.
      for (let i = 0; i < 100 && c.transport("a").send("b", ["chunk", i, chunk]); i++) accepted++;
      // Nine frames of 100 kB and a bit fit under 1 MB; a tenth does not, a tiny one does.
      assert.equal(accepted, 9);
      assert.equal(c.transport("a").send("b", ["chunk", accepted, chunk]), false, "still full");
      assert.ok(c.transport("a").send("b", ["tiny"]));
      assert.ok(await c.waitFor(() => atB.inbox.length === accepted + 1, 10_000));
      assert.deepEqual(
        atB.inbox.map((m) => m.message[1] ?? m.message[0]),
        [...Array.from({ length: accepted }, (_, i) => i), "tiny"],
      );
      assert.ok(c.transport("a").send("b", ["chunk", "again", chunk]), "room again once drained");
    },
    { frameBytesMax: 200_000, sendQueueBytesMax: 1_000_000 },
  );
}
