// Call ids between nodes must not repeat across runs of a node: a peer may answer a call of
// the previous run after the node restarted (a forwarded write acknowledged seconds later)
// and that answer must not be taken for the new run's call of the same number.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, ManualClock, seededRandom } from "../../core/index.ts";
import { parsePlanet } from "../../topology/index.ts";
import type { MutateResult } from "../api-types.ts";
import { MemoryStorage } from "../testkit/memory-storage.ts";
import type { Transport, WireMessage } from "../wire/transport.ts";
import { Calls } from "./calls.ts";
import { partitionOf, replicasOf } from "./partition.ts";
import { createStoreNode } from "./store-node.ts";

const fourYaml =
  "name: calls\nzone: c.test.\nsites:\n  - { name: a, city: A, lat: 0, lon: 0, tiers: { store: 4 } }\nstore: { partitions: 8, rf: 3 }\n";

test("calls - two runs of a node never hand out the same call id", () => {
  const first = new Calls("n1", "run-a");
  const second = new Calls("n1", "run-b");
  const a = first.call(() => {});
  const b = second.call(() => {});
  assert.notEqual(a, b);
  assert.equal(second.get(a), undefined);
});

/** A transport that sees every peer up, records what the node sends and lets the test answer. */
function tapTransport(self: string) {
  const sent: [string, WireMessage][] = [];
  let deliver: (from: string, message: WireMessage) => void = () => {};
  const transport: Transport = {
    self,
    start: async () => {},
    stop: async () => {},
    send: (peer, message) => {
      sent.push([peer, message]);
      return true;
    },
    onMessage: (handler) => {
      deliver = handler;
    },
    onPeerChange: () => {},
    isUp: () => true,
    mayBeUp: () => true,
  };
  return { transport, sent, deliver: (from: string, message: WireMessage) => deliver(from, message) };
}

test("calls - a forwarded write's answer meant for the node's previous run does not answer the restarted node's forward", async () => {
  const planet = parsePlanet(fourYaml);
  const ids = planet.storeNodes.map((n) => n.id);
  const partitions = planet.store.partitions;
  // The node that forwards: some node that does not replicate the keys below.
  const outsider = ids[0];
  const notMine = (key: string) => !replicasOf(partitionOf(key, partitions), ids, planet.store.rf).includes(outsider);
  const keys: string[] = [];
  for (let i = 0; keys.length < 2; i++) if (notMine(`k${i}`)) keys.push(`k${i}`);
  const logger = createLogger({}, { level: "error", write: () => {} });
  let storage = new MemoryStorage();

  const run = async (seed: number) => {
    // A clock per run: the dead run's timers never fire.
    const clock = new ManualClock();
    const tap = tapTransport(outsider);
    const engine = createStoreNode(
      { planet, nodeId: outsider },
      {
        storage,
        transport: tap.transport,
        clock,
        random: seededRandom(seed),
        logger,
        defer: (fn) => clock.setTimer(0, fn),
      },
    );
    await engine.start();
    return { engine, tap };
  };
  const forwardOf = (sent: readonly [string, WireMessage][], key: string) => {
    const found = sent.find(([, m]) => m[0] === "fwd" && (m[3] as { key: string }).key === key);
    assert.ok(found, `no forward of ${key} was sent`);
    return { peer: found[0], callId: found[1][1] as string };
  };

  // The first run forwards a write and dies before the answer comes.
  const first = await run(1);
  void first.engine.mutate({
    key: keys[0],
    mutation: { kind: "incr", by: 1 },
    opId: "w-old",
    consistency: "local-quorum",
  });
  const old = forwardOf(first.tap.sent, keys[0]);

  // The restarted node (same disk) forwards another write to the same replica.
  storage = storage.reopen();
  const second = await run(2);
  const pending = second.engine.mutate({
    key: keys[1],
    mutation: { kind: "set", value: "new" },
    opId: "w-new",
    consistency: "local-quorum",
  });
  const now = forwardOf(second.tap.sent, keys[1]);

  // The replica answers the first run's forward, then the second's.
  const answer = (value: unknown): MutateResult => ({
    value: { exists: true, value } as never,
    duplicate: false,
    token: {},
  });
  second.tap.deliver(old.peer, ["fwdres", old.callId, null, answer(1)]);
  second.tap.deliver(now.peer, ["fwdres", now.callId, null, answer("new")]);
  const result = await pending;
  assert.deepEqual(
    result.value,
    { exists: true, value: "new" },
    "the restarted node took the answer meant for its previous run",
  );
  await second.engine.stop();
});
