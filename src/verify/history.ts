// The history format: JSON lines written by the load generator (one record per operation)
// and by chaos (one per fault), read by the checker. The first line is a header, the last
// an end record; a history without its end record was cut short. docs/verify.md explains
// every field and why it is there.
import { z } from "zod";
import { historyFormatName, historyVersion, triesPerOpMax, tryResultCharsMax } from "./constants.ts";

const name = z.string().min(1).max(256);
/** Milliseconds on the recorder's monotonic clock (e.g. performance.now() of the load generator). */
const timeMs = z.number().finite().min(0);

export const opKinds = [
  "page",
  "login",
  "logout",
  "session.read",
  "cart.add",
  "cart.set",
  "cart.remove",
  "cart.read",
  "checkout",
  "orders.read",
] as const;
export type OpKind = (typeof opKinds)[number];

/** Kinds that change state: each carries an Idempotency-Key and is retried with it. */
export const mutationKinds: ReadonlySet<OpKind> = new Set([
  "login",
  "logout",
  "cart.add",
  "cart.set",
  "cart.remove",
  "checkout",
]);

export const headerSchema = z.strictObject({
  type: z.literal("header"),
  format: z.literal(historyFormatName),
  version: z.literal(historyVersion),
  seed: z.number().int(),
  commit: z.string().max(256),
  planet: name,
  /** Recorder wall clock at time 0 of the monotonic clock (informative). */
  startedAtIso: z.string().max(64).optional(),
  sites: z.array(z.strictObject({ name })).min(1).max(1_000),
  /** Each user region and the site nearest to it (where users there should be served). */
  regions: z
    .array(z.strictObject({ name, nearestSite: name }))
    .min(1)
    .max(10_000),
  /** Session lifetime in the store; sessions idle longer are not expected to survive. */
  sessionTtlS: z.number().int().min(1).optional(),
  /** How long the run was meant to last (ms); informative beside the end record. */
  durationMsPlanned: z.number().min(0).optional(),
});
export type HistoryHeader = z.infer<typeof headerSchema>;

export const outcomeSchema = z.discriminatedUnion("result", [
  z.strictObject({ result: z.literal("ok") }),
  /** The final answer after the client's retries was an error (0 = no HTTP status, e.g. connection refused everywhere). */
  z.strictObject({
    result: z.literal("error"),
    status: z.number().int().min(0).max(599),
    message: z.string().max(4_096),
    /** True when the server said the mutation certainly did not happen; otherwise it may have. */
    definite: z.boolean().optional(),
  }),
  /** The client never learnt the outcome (timeouts or resets after sending, retries with the same key exhausted). */
  z.strictObject({ result: z.literal("unknown"), message: z.string().max(4_096) }),
]);
export type Outcome = z.infer<typeof outcomeSchema>;

const quantity = z.number().int().min(0).max(1_000_000);

export const sawSchema = z.strictObject({
  /** The account the request's session resolved to; null when the server saw no session. */
  sessionUser: name.nullable().optional(),
  /** The cart as the response showed it: item → quantity (absent items have quantity 0). */
  cart: z.record(name, quantity.min(1)).optional(),
  /** The order history as shown, in any order. */
  orders: z
    .array(z.strictObject({ id: name, idempotencyKey: name.optional() }))
    .max(100_000)
    .optional(),
  /** The order a checkout created. */
  orderId: name.optional(),
});
export type Saw = z.infer<typeof sawSchema>;

export const opSchema = z
  .strictObject({
    type: z.literal("op"),
    kind: z.enum(opKinds),
    /** Virtual user id: one user runs one operation at a time. */
    user: name,
    region: name,
    /** The session id the request carried (or, for login, the one it obtained). */
    session: name.optional(),
    idempotencyKey: name.optional(),
    startMs: timeMs,
    endMs: timeMs,
    /** Requests the client sent for this operation (1 = no retry). */
    attempts: z.number().int().min(1).max(1_000),
    /**
     * Each request of an op that retried (absent when it took one): where it went, when it
     * started and ended, and what came of it — what explains a wait.
     */
    tries: z
      .array(
        z.strictObject({
          address: z.string().max(256),
          startMs: timeMs,
          endMs: timeMs,
          result: z.string().max(tryResultCharsMax),
        }),
      )
      .max(triesPerOpMax)
      .optional(),
    outcome: outcomeSchema,
    /** Who answered the final attempt; absent when nobody answered. */
    served: z.strictObject({ site: name, instance: name }).optional(),
    /** cart.add: quantity added; cart.set: quantity set (0 removes). */
    item: name.optional(),
    quantity: quantity.optional(),
    /** page: the path fetched. */
    path: z.string().max(2_048).optional(),
    saw: sawSchema.optional(),
  })
  .superRefine((op, ctx) => {
    if (op.endMs < op.startMs) ctx.addIssue({ code: "custom", path: ["endMs"], message: "endMs is before startMs" });
    if (mutationKinds.has(op.kind) && op.idempotencyKey === undefined) {
      ctx.addIssue({ code: "custom", path: ["idempotencyKey"], message: `${op.kind} is a mutation and needs one` });
    }
    if (op.kind.startsWith("cart.") && op.kind !== "cart.read" && op.item === undefined) {
      ctx.addIssue({ code: "custom", path: ["item"], message: `${op.kind} needs the item` });
    }
    if ((op.kind === "cart.add" || op.kind === "cart.set") && op.quantity === undefined) {
      ctx.addIssue({ code: "custom", path: ["quantity"], message: `${op.kind} needs the quantity` });
    }
    if (op.kind === "cart.add" && op.quantity === 0) {
      ctx.addIssue({ code: "custom", path: ["quantity"], message: "cart.add adds at least 1" });
    }
    if (op.kind === "checkout" && op.outcome.result === "ok" && op.saw?.orderId === undefined) {
      ctx.addIssue({ code: "custom", path: ["saw", "orderId"], message: "an acknowledged checkout names its order" });
    }
  });
export type OpRecord = z.infer<typeof opSchema>;

export const faultKinds = [
  "kill-instance",
  "kill-tier",
  "kill-site",
  "pause",
  "partition",
  "slow-link",
  "clock-skew",
  "empty-disk",
] as const;
export type FaultKind = (typeof faultKinds)[number];
export const faultTiers = ["app", "gateway", "dns", "store", "wan"] as const;

export const faultSchema = z.strictObject({
  type: z.literal("fault"),
  /** Unique in the history; a later fault-end names it. */
  id: name,
  kind: z.enum(faultKinds),
  target: z.strictObject({
    site: name,
    tier: z.enum(faultTiers).optional(),
    instance: name.optional(),
    /** The other site of a partition or a slowed link. */
    peer: name.optional(),
  }),
  startMs: timeMs,
  /** The fault reverts itself this long after startMs, even if its injector died. */
  ttlMs: z.number().min(0),
  /** When it was reverted, if known when the record was written (else see fault-end). */
  endMs: timeMs.optional(),
  detail: z.string().max(4_096).optional(),
});
export type FaultRecord = z.infer<typeof faultSchema>;

export const faultEndSchema = z.strictObject({
  type: z.literal("fault-end"),
  id: name,
  endMs: timeMs,
  reason: z.enum(["healed", "ttl"]),
});
export type FaultEndRecord = z.infer<typeof faultEndSchema>;

export const endSchema = z.strictObject({
  type: z.literal("end"),
  endMs: timeMs,
  /** "complete" when the run lasted as planned; anything else makes the verdict "not proven". */
  reason: z.enum(["complete", "interrupted", "time-limit", "error"]),
  /** Op records the writer wrote; fewer in the file means lines were lost. */
  ops: z.number().int().min(0),
});
export type EndRecord = z.infer<typeof endSchema>;

export const recordSchema = z.discriminatedUnion("type", [
  headerSchema,
  opSchema,
  faultSchema,
  faultEndSchema,
  endSchema,
]);
export type HistoryRecord = z.infer<typeof recordSchema>;

/** One JSON line for a record, validated first so a writer cannot produce what the reader refuses. */
export function formatHistoryLine(record: HistoryRecord): string {
  return `${JSON.stringify(recordSchema.parse(record))}\n`;
}
