// What a lease is: one field of the site's registry map (`_rs/registry/<site>`), keyed by
// instance id, whose value is this JSON object. The instance (or whoever started it) writes
// it and increments `beat` on every renewal; watchers judge liveness by `beat` changing on
// their own clock, so the holder's clock (startedAtMs) is informative only.
import { z } from "zod";
import { drainKeyPrefix, instanceIdPattern, leaseStringBytesMax, registryKeyPrefix } from "./constants.ts";

export const leaseTiers = ["app", "gateway", "dns", "store"] as const;
export type LeaseTier = (typeof leaseTiers)[number];
export const leaseStates = ["starting", "ready", "draining"] as const;
export type LeaseState = (typeof leaseStates)[number];

export type Lease = {
  readonly id: string;
  readonly site: string;
  readonly tier: LeaseTier;
  readonly host: string;
  readonly port: number;
  readonly state: LeaseState;
  readonly version: string;
  /** The holder's wall clock when this incarnation started (informative; never compared across hosts). */
  readonly startedAtMs: number;
  /** Renewal count of this incarnation, from 1; every write increments it. */
  readonly beat: number;
  readonly pid?: number;
};

const shortString = z
  .string()
  .min(1)
  .refine((s) => Buffer.byteLength(s) <= leaseStringBytesMax, `at most ${leaseStringBytesMax} bytes`);

export const leaseSchema = z
  .object({
    id: z.string().regex(instanceIdPattern),
    site: shortString,
    tier: z.enum(leaseTiers),
    host: shortString,
    port: z.number().int().min(1).max(65_535),
    state: z.enum(leaseStates),
    version: z.string().refine((s) => Buffer.byteLength(s) <= leaseStringBytesMax),
    startedAtMs: z.number().finite(),
    beat: z.number().int().min(0),
    pid: z.number().int().min(1).optional(),
  })
  .strip();

export function registryKey(site: string): string {
  return `${registryKeyPrefix}${site}`;
}

export function drainKey(site: string): string {
  return `${drainKeyPrefix}${site}`;
}

/** A lease read from a registry field, or the reason it is not one (a typo'd writer, an old format). */
export function parseLease(value: unknown): { ok: true; lease: Lease } | { ok: false; reason: string } {
  const r = leaseSchema.safeParse(value);
  if (r.success) return { ok: true, lease: r.data };
  const issue = r.error.issues[0];
  return { ok: false, reason: `${issue?.path.join(".") || "value"}: ${issue?.message ?? "invalid"}` };
}

/** Whether a string can be an instance id. */
export function isInstanceId(id: string): boolean {
  return instanceIdPattern.test(id);
}
