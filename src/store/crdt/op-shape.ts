// The most common delta — one register set, what a put writes — as its op alone:
// [opId, h, value], which is all it holds. The relay codec sends such entries in this shape
// across the WAN (relay-codec.ts): the state's other fields, the second copy of the HLC and
// the field names are a quarter of a 100-byte put's entry. Rebuilt, it encodes to the very
// bytes the coordinator logged; the codec checks that before it sends one this way.
import { packCanonical, unpackCanonical } from "./codec.ts";
import { emptyState, isEmptyDict, type KeyState } from "./crdt-types.ts";

export type SetOp = readonly [opId: string, h: number, value: Uint8Array];

/** The set op a delta is exactly, with its value packed (packCanonical); undefined for any other state. */
export function setOpOf(s: KeyState): SetOp | undefined {
  if (s.t !== "reg" || s.del !== 0 || s.exp !== 0 || s.eh !== 0 || s.cut !== 0 || s.base !== 0) return undefined;
  if (!isEmptyDict(s.rm) || !isEmptyDict(s.fdel) || !isEmptyDict(s.done) || !isEmptyDict(s.erm)) return undefined;
  if (s.fold[0] !== 0 || s.fold[1] !== 0) return undefined;
  let found: SetOp | undefined;
  for (const opId in s.ops) {
    const op = s.ops[opId];
    if (found || op.k !== "set" || op.h !== s.th || op.d !== undefined || op.e !== undefined || op.f !== undefined)
      return undefined;
    found = [opId, op.h, packCanonical(op.v)];
  }
  return found;
}

/** The delta of one register set op. */
export function setOpDelta(opId: string, h: number, value: Uint8Array): KeyState {
  const d = emptyState("reg");
  d.ops[opId] = { h, k: "set", v: unpackCanonical(value) };
  d.th = h;
  return d;
}
