// A request for a key this node does not replicate goes to the first reachable replica of
// the key in this site ("fwd"), which runs it and answers with the result or the error's
// code ("fwdres"). The wait is the request's own timeout plus a margin for the hop.
import type { MutateRequest, ReadRequest } from "../api-types.ts";
import { storeErrors } from "../errors.ts";
import { defaultTimeoutMs } from "./checks.ts";
import type { NodeContext } from "./node-context.ts";

export async function forward(
  node: NodeContext,
  local: readonly string[],
  kind: "m" | "r",
  request: MutateRequest | ReadRequest,
): Promise<unknown> {
  const target = local.find((n) => node.transport.isUp(n));
  if (!target) {
    // Nothing was sent anywhere: definitely not applied (CONSISTENCY would tell the client
    // it may have been).
    throw storeErrors.create(
      "RS_ERR_STORE_UNAVAILABLE",
      `no replica of the key is reachable in site ${node.site}; nothing was sent (not applied)`,
    );
  }
  const timeoutMs = (request.timeoutMs ?? defaultTimeoutMs(request.consistency)) + 500;
  return await new Promise((resolve, reject) => {
    const timer = node.clock.setTimer(timeoutMs, () => {
      node.calls.delete(callId);
      // Sent: the replica may have applied it.
      reject(storeErrors.create("RS_ERR_STORE_NO_ANSWER", `replica ${target} did not answer in ${timeoutMs} ms`));
    });
    const callId = node.calls.call((reply) => {
      timer.cancel();
      if (reply[0] === "fwdres" && reply[2] === null) resolve(reply[3]);
      else {
        const e = (reply[2] ?? {}) as { code?: string; message?: string };
        const code = (e.code && e.code in storeErrors.codes ? e.code : "RS_ERR_STORE_NO_ANSWER") as never;
        reject(storeErrors.create(code, `via ${target}: ${e.message ?? "no answer"}`));
      }
    });
    if (!node.transport.send(target, ["fwd", callId, kind, request])) {
      timer.cancel();
      node.calls.delete(callId);
      reject(storeErrors.create("RS_ERR_STORE_UNAVAILABLE", `cannot reach replica ${target}`));
    }
  });
}
