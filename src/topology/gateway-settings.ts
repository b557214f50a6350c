// The planet file's `gateway` section: the limits and timeouts every site gateway applies
// to its clients (HAProxy's and Envoy's, by name in docs/gateway.md), and per service the
// retry choices only the app's author can make: whether an Idempotency-Key makes a request
// safe to send again, and whether the app dedups through the store, so that the second try
// may even go to another site. Defaults are the constants in constants.ts.
import { z } from "zod";
import {
  gatewayConnectionsPerSourceMax,
  gatewayConnectionsPerSourceMaxDefault,
  gatewayHeadTimeoutMsDefault,
  gatewayIdleTimeoutMsDefault,
  gatewayInstanceRequestsMax,
  gatewayInstanceRequestsMaxDefault,
  gatewayLingerTimeoutMsDefault,
  gatewayPendingPerInstanceMax,
  gatewayPendingPerInstanceMaxDefault,
  gatewayQueueTimeoutMsDefault,
  gatewayRequestsPerSourcePerSDefault,
  gatewayRequestsPerSourcePerSMax,
  gatewayTimeoutMsMax,
} from "./constants.ts";

const timeoutMs = z.number().int().min(1).max(gatewayTimeoutMsMax);

export const serviceSettingsSchema = z
  .object({
    /** A request carrying an Idempotency-Key may be sent again after the app may have seen it (default false). */
    idempotencyKeyRetries: z.boolean().default(false),
    /** The app dedups Idempotency-Keys through the store (every site sees them), so a retry may go to another site. */
    appDedupsThroughStore: z.boolean().default(false),
  })
  .strict()
  .refine((s) => !s.appDedupsThroughStore || s.idempotencyKeyRetries, {
    message: "appDedupsThroughStore needs idempotencyKeyRetries: true (a retry across sites is still a retry)",
    path: ["idempotencyKeyRetries"],
  });

export type ServiceSettings = z.output<typeof serviceSettingsSchema>;

export const gatewaySettingsSchema = z
  .object({
    headTimeoutMs: timeoutMs.default(gatewayHeadTimeoutMsDefault),
    idleTimeoutMs: timeoutMs.default(gatewayIdleTimeoutMsDefault),
    lingerTimeoutMs: timeoutMs.default(gatewayLingerTimeoutMsDefault),
    connectionsPerSourceMax: z
      .number()
      .int()
      .min(1)
      .max(gatewayConnectionsPerSourceMax)
      .default(gatewayConnectionsPerSourceMaxDefault),
    /** 0: no cap. */
    requestsPerSourcePerS: z
      .number()
      .min(0)
      .max(gatewayRequestsPerSourcePerSMax)
      .default(gatewayRequestsPerSourcePerSDefault),
    /** Requests a source may send at once after a quiet spell; 0: one second's worth. */
    requestsPerSourceBurst: z.number().int().min(0).max(gatewayRequestsPerSourcePerSMax).default(0),
    instanceRequestsMax: z
      .number()
      .int()
      .min(1)
      .max(gatewayInstanceRequestsMax)
      .default(gatewayInstanceRequestsMaxDefault),
    pendingPerInstanceMax: z
      .number()
      .int()
      .min(0)
      .max(gatewayPendingPerInstanceMax)
      .default(gatewayPendingPerInstanceMaxDefault),
    queueTimeoutMs: timeoutMs.default(gatewayQueueTimeoutMsDefault),
    /** Per service (a name from the planet's services): its retry choices. */
    services: z.record(z.string(), serviceSettingsSchema).default({}),
  })
  .strict();

export type GatewaySettings = z.output<typeof gatewaySettingsSchema>;
