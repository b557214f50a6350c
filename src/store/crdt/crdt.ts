// The store's values: CRDTs with causal op sets, compacted at stability (see
// docs/store-internals.md, "Values"). Everything here is pure and deterministic: states in,
// states out, never mutated in place. What the coordinator runs is applyMutation; replicas
// merge the deltas it returns; reads, digests and compaction are functions of a state.
export { decodeState, encodeState } from "./codec.ts";
export { compact } from "./crdt-compact.ts";
export { effectiveDel, nextExpiryMs } from "./crdt-expiry.ts";
export {
  type Applied,
  applyMutation,
  mutationKinds,
  mutationSize,
  mutationType,
  validateMutation,
  validateOpId,
} from "./crdt-mutate.ts";
export { digest, read } from "./crdt-read.ts";
export { contains, merge } from "./crdt-state.ts";
export type {
  KeyState,
  Mutation,
  MutationContext,
  Op,
  OpKind,
  ReadResult,
  ValueType,
} from "./crdt-types.ts";
export { expiryHlc, opIdsOf } from "./crdt-types.ts";
export { type SetOp, setOpDelta, setOpOf } from "./op-shape.ts";
