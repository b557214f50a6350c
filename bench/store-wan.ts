// The WAN half of `bench:store`: a planet of 3 sites × 3 store nodes on loopback (no WAN
// emulation: bytes, not delay, are measured), local-quorum puts from a client in site a for a
// few seconds, then the TCP bytes site a's nodes sent to each other site (tcpBytesSentBy),
// less what an idle window of the same length carries (heartbeats, gossip, anti-entropy),
// per write.
import { randomBytes } from "node:crypto";
import { createStoreClient } from "../src/store/index.ts";
import { StoreCluster } from "../test/support/store-cluster.ts";
import { runLoad, sleep } from "./load.ts";
import { tcpBytesSentBy } from "./support/tcp-bytes.ts";

export type WanBytes = {
  readonly writes: number;
  readonly keyValueBytes: number;
  readonly sites: ReadonlyArray<{ name: string; bytesPerWrite: number }>;
};

const sites = [
  { name: "a", octet: 236, lat: 0, lon: 0 },
  { name: "b", octet: 237, lat: 10, lon: 10 },
  { name: "c", octet: 238, lat: 20, lon: 20 },
];

export async function measureWanBytes(options: {
  value: string;
  /** Each write a value of its own, random bytes in base64 as long as `value` (incompressible but for base64's 6 bits a character), instead of `value` itself. */
  randomValues?: boolean;
  keyspace: number;
  protocol: "binary" | "http";
  seconds: number;
}): Promise<WanBytes> {
  const cluster = new StoreCluster({ sites, partitions: 16, storePort: 7420 });
  const client = createStoreClient({
    planet: cluster.planet,
    site: "a",
    consistency: "local-quorum",
    protocol: options.protocol,
  });
  try {
    // One at a time: nine Node processes starting together on a busy 2-core host can miss
    // the launcher's readiness timeout.
    for (const n of cluster.planet.storeNodes) await cluster.start(n.id);
    const pidsOf = (site: string) => new Set(cluster.nodesOf(site).map((id) => cluster.processes.get(id)!.pid));
    const fromA = pidsOf("a");
    const sample = () => sites.slice(1).map((s) => tcpBytesSentBy(fromA, `127.${s.octet}.`));
    // Let the links come up and the first anti-entropy rounds settle.
    await sleep(2_000);
    const idle0 = sample();
    await sleep(options.seconds * 1000);
    const idle1 = sample();
    const before = sample();
    const startedMs = performance.now();
    const result = await runLoad(
      "wan put (local-quorum, site a)",
      { connections: 16, durationS: options.seconds, warmupS: 0 },
      async (w) => async (i) => {
        const value = options.randomValues ? randomValue(options.value.length) : options.value;
        await client.put(`k${(i * 7919) % options.keyspace}`, value, { opId: `w${w}-${i}-${process.pid}` });
      },
    );
    // Every write reaches the remote replicas shortly after its local ack.
    await sleep(1_000);
    const after = sample();
    const windowS = (performance.now() - startedMs) / 1000;
    const writes = result.ops + result.errors;
    return {
      writes,
      keyValueBytes: Buffer.byteLength(`k${options.keyspace - 1}`) + Buffer.byteLength(options.value),
      sites: sites.slice(1).map((s, k) => {
        const idlePerS = (idle1[k] - idle0[k]) / options.seconds;
        const sent = after[k] - before[k] - idlePerS * windowS;
        return { name: s.name, bytesPerWrite: sent / Math.max(1, writes) };
      }),
    };
  } finally {
    await client.close();
    await cluster[Symbol.asyncDispose]();
  }
}

function randomValue(length: number): string {
  return randomBytes(Math.ceil((length * 3) / 4))
    .toString("base64")
    .slice(0, length);
}
