// The operator's side of membership (`redshirt store join|leave|replace|members`): ask one
// store node of the planet — the given one, else each planet node in turn until one
// answers — to make the change; the record then spreads by gossip. `awaitMembership` polls
// until the change is done on every member that answers, or the time is up.
import { controlBearerToken } from "../../core/index.ts";
import { type Planet, storeNodeById } from "../../topology/index.ts";
import type { MembershipChange, MembershipView } from "../api-types.ts";
import { storeErrors } from "../errors.ts";
import { storeHttpErrors } from "./http-errors.ts";

export type MembershipTarget = { readonly planet: Planet; readonly secret: Buffer; readonly via?: string };

const callTimeoutMs = 5_000;

function urlsOf(t: MembershipTarget): string[] {
  const nodes = t.via ? [storeNodeById(t.planet, t.via)] : t.planet.storeNodes;
  if (nodes.some((n) => n === undefined)) {
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `via: ${JSON.stringify(t.via)} is no store node id`);
  }
  return nodes.map((n) => `http://${n?.host}:${n?.port}/v1/membership`);
}

async function call(url: string, secret: Buffer, change?: MembershipChange): Promise<MembershipView> {
  const res = await fetch(url, {
    method: change ? "POST" : "GET",
    headers: change
      ? { authorization: `Bearer ${controlBearerToken(secret)}`, "content-type": "application/json" }
      : {},
    body: change ? JSON.stringify(change) : undefined,
    signal: AbortSignal.timeout(callTimeoutMs),
  });
  const body = (await res.json()) as MembershipView & { error?: { code?: string; message?: string } };
  if (res.status !== 200) {
    // The node's own typed error, passed on as it came (the CLI prints code and message).
    const code = body.error?.code;
    const remote = body.error?.message ?? `HTTP ${res.status}`;
    // The remote message opens with the registry's text for its code, which ours repeats.
    const detail = (prefix: string) =>
      `${remote.startsWith(`${prefix}: `) ? remote.slice(prefix.length + 2) : remote} (${url})`;
    const err =
      code === "RS_ERR_STORE_UNAUTHORIZED"
        ? storeHttpErrors.create(code, detail(storeHttpErrors.create(code).message))
        : code === "RS_ERR_STORE_MEMBERSHIP" ||
            code === "RS_ERR_STORE_BAD_REQUEST" ||
            code === "RS_ERR_STORE_SHUTTING_DOWN"
          ? storeErrors.create(code, detail(storeErrors.create(code).message))
          : storeErrors.create("RS_ERR_STORE_UNAVAILABLE", `${remote} (${url}, ${code ?? "no code"})`);
    throw Object.assign(err, { answered: true });
  }
  return body;
}

/** Tries the nodes in turn; a node that answers with an error ends it (the change was refused). */
async function first(t: MembershipTarget, change?: MembershipChange): Promise<MembershipView> {
  let last: unknown;
  for (const url of urlsOf(t)) {
    try {
      return await call(url, t.secret, change);
    } catch (err) {
      if ((err as { answered?: boolean }).answered) throw err;
      last = err;
    }
  }
  throw storeErrors.create("RS_ERR_STORE_UNAVAILABLE", "no store node answered the membership call", {
    cause: last,
  });
}

export function changeStoreMembership(t: MembershipTarget, change: MembershipChange): Promise<MembershipView> {
  return first(t, change);
}

export function storeMembership(t: MembershipTarget): Promise<MembershipView> {
  return first(t);
}

/** Every member's view that answers, by node (a member that does not answer is left out). */
export async function membershipViews(t: MembershipTarget, members: MembershipView["members"]) {
  const views = await Promise.all(
    members.map((m) =>
      call(`http://${m.host}:${m.port}/v1/membership`, t.secret).then(
        (v) => v,
        () => undefined,
      ),
    ),
  );
  return views.filter((v): v is MembershipView => v !== undefined);
}
