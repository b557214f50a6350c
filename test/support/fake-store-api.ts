// A TEST DOUBLE of the engine, for testing the HTTP layer and the client only: an in-memory
// StoreApi with the value semantics of docs/store.md (register, counter, set, map, op-id
// dedup, wrong-type errors) and none of the replication. Several "nodes" may share one
// `FakeData`, which stands in for a replicated store in client failover tests.
//
// It asserts everything the HTTP layer promises the engine (key length, consistency level,
// op id shape, mutation shape), so a request that slips through validation malformed makes
// the fake throw an AssertionFailed, the server answer 500, and the fuzz test fail.
import { assert } from "../../src/core/index.ts";
import type {
  MutateRequest,
  MutateResult,
  Mutation,
  NodeHealth,
  ReadRequest,
  ReadResponse,
  ReadResult,
  SessionToken,
  StoreApi,
  ValueType,
} from "../../src/store/index.ts";
import { mutationType, storeErrors } from "../../src/store/index.ts";
import { consistencyLevels } from "../../src/topology/index.ts";

type Entry = { type: ValueType; value: unknown };

export class FakeData {
  readonly keys = new Map<string, Entry>();
  readonly applied = new Map<string, ReadResult>();
  hlc = 0;
}

export type FakeStoreApi = StoreApi & {
  readonly nodeId: string;
  /** Every request this node received, in order. */
  readonly mutations: MutateRequest[];
  readonly reads: ReadRequest[];
  /** When set, decides per request whether to fail it instead of answering. */
  failWith: ((request: MutateRequest | ReadRequest) => Error | undefined) | undefined;
  /** When set, every request waits for it before it is answered (a hung node). */
  hold: Promise<void> | undefined;
  ok: boolean;
};

function checkCommon(r: MutateRequest | ReadRequest): void {
  assert(typeof r.key === "string" && r.key.length > 0 && Buffer.byteLength(r.key) <= 1024, "key within limits");
  assert((consistencyLevels as readonly string[]).includes(r.consistency), "known consistency");
  assert(r.timeoutMs === undefined || (Number.isInteger(r.timeoutMs) && r.timeoutMs > 0), "timeoutMs valid");
  if (r.token) {
    for (const [node, hlc] of Object.entries(r.token)) {
      assert(typeof node === "string" && Number.isSafeInteger(hlc) && hlc >= 0, "token entries valid");
    }
  }
}

const strings = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && v.every((m) => typeof m === "string");
const plainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function checkMutation(m: Mutation): void {
  assert(m.ttlS === undefined || (Number.isInteger(m.ttlS) && m.ttlS > 0), "ttlS valid");
  switch (m.kind) {
    case "set":
      assert(m.value !== undefined, "set has a value");
      return;
    case "incr":
      assert(Number.isSafeInteger(m.by), "incr by a safe integer");
      return;
    case "sadd":
    case "srem":
      assert(strings(m.members), "members are strings");
      return;
    case "mset":
      assert(plainObject(m.fields) && Object.keys(m.fields).length > 0, "mset fields");
      return;
    case "mincr":
      assert(plainObject(m.fields) && Object.values(m.fields).every(Number.isSafeInteger), "mincr fields");
      return;
    case "mdel":
      assert(strings(m.fields), "mdel fields are strings");
      return;
    case "del":
      return;
    default:
      assert(false, `unknown mutation kind ${(m as { kind: string }).kind}`);
  }
}

function apply(data: FakeData, key: string, m: Mutation): void {
  if (m.kind === "del") {
    data.keys.delete(key);
    return;
  }
  const type = mutationType[m.kind]!;
  const entry = data.keys.get(key);
  if (entry && entry.type !== type) throw storeErrors.create("RS_ERR_STORE_WRONG_TYPE", `${key} is a ${entry.type}`);
  const e: Entry = entry ?? { type, value: type === "counter" ? 0 : type === "set" ? [] : type === "map" ? {} : null };
  if (m.kind === "set") e.value = m.value;
  else if (m.kind === "incr") {
    const next = (e.value as number) + m.by;
    if (!Number.isSafeInteger(next)) throw storeErrors.create("RS_ERR_STORE_COUNTER_RANGE", key);
    e.value = next;
  } else if (m.kind === "sadd") e.value = [...new Set([...(e.value as string[]), ...m.members])].sort();
  else if (m.kind === "srem") e.value = (e.value as string[]).filter((x) => !m.members.includes(x));
  else {
    const fields = { ...(e.value as Record<string, unknown>) };
    if (m.kind === "mset") Object.assign(fields, m.fields);
    if (m.kind === "mincr") for (const [f, d] of Object.entries(m.fields)) fields[f] = ((fields[f] as number) ?? 0) + d;
    if (m.kind === "mdel") for (const f of m.fields) delete fields[f];
    e.value = fields;
  }
  data.keys.set(key, e);
}

function current(data: FakeData, key: string): ReadResult {
  const e = data.keys.get(key);
  return e ? { exists: true, type: e.type, value: structuredClone(e.value) } : { exists: false };
}

export function createFakeStoreApi(nodeId: string, data = new FakeData()): FakeStoreApi {
  const fake: FakeStoreApi = {
    nodeId,
    mutations: [],
    reads: [],
    failWith: undefined,
    hold: undefined,
    ok: true,
    async mutate(request: MutateRequest): Promise<MutateResult> {
      checkCommon(request);
      assert(typeof request.opId === "string" && /^[\x21-\x7e]{1,128}$/.test(request.opId), "op id valid");
      checkMutation(request.mutation);
      fake.mutations.push(request);
      await fake.hold;
      const failure = fake.failWith?.(request);
      if (failure) throw failure;
      const token: SessionToken = { [nodeId]: ++data.hlc };
      const seen = data.applied.get(request.opId);
      if (seen) return { value: current(data, request.key), duplicate: true, token };
      apply(data, request.key, request.mutation);
      const value = current(data, request.key);
      data.applied.set(request.opId, value);
      return { value, duplicate: false, token };
    },
    async read(request: ReadRequest): Promise<ReadResponse> {
      checkCommon(request);
      fake.reads.push(request);
      await fake.hold;
      const failure = fake.failWith?.(request);
      if (failure) throw failure;
      return { value: current(data, request.key), token: {} };
    },
    health(): NodeHealth {
      return { node: nodeId, site: "fake", ok: fake.ok, peersUp: [], peersDown: [], hintsPending: 0, stableLagMs: 0 };
    },
    treeRoots(): readonly number[] {
      return [];
    },
    metricsText(): string {
      return `# HELP rs_fake_keys Keys held.\n# TYPE rs_fake_keys gauge\nrs_fake_keys ${data.keys.size}\n`;
    },
  };
  return fake;
}
