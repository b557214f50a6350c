// Idempotency-Key for app mutations: a retried mutation is applied once and answers the same
// status and body, on any instance in any site, for as long as the store keeps op ids
// (`store.dedupWindowS`). Two mechanisms, because either alone has a hole:
// - every store write of the handler takes an op id derived from the key (`opId(part)`),
//   so the store itself applies a retry's writes once — also when the retry reaches a
//   replica in another site that has not yet heard of the first attempt;
// - the answer is kept in the store under the key (a register with a TTL), so a retry that
//   comes after the first attempt finished answers exactly what it answered, without
//   running the handler again.
// A retry that finds no answer yet runs the handler again with the same op ids: its writes
// are duplicates, and the handler must compute its answer from what the store holds (never
// from "what I just did"), so the answer is the same.
import { createHash, randomUUID } from "node:crypto";
import { type Counter, isRedshirtError, type Logger } from "../core/index.ts";
import type { StoreClient, StoreWriteOptions } from "../store/index.ts";
import { idempotencyKeyCharsMax, idempotencyKeyPrefix } from "./constants.ts";
import { sdkErrors } from "./errors.ts";
import { errorAnswer, type JsonAnswer } from "./http-kit.ts";

const keyRe = new RegExp(`^[A-Za-z0-9._:-]{1,${idempotencyKeyCharsMax}}$`);

export type IdempotencyInit = {
  /** How long answers are kept: the store's dedup window (planet.store.dedupWindowS). */
  readonly ttlS: number;
  /** Options of the answer's write (e.g. consistency "global"). */
  readonly writeOptions?: StoreWriteOptions;
  /** Counted when an answer could not be kept (the retry then runs the handler again, with the same op ids). */
  readonly keepFailures?: Counter;
  /** Counted per answer replayed from the store. */
  readonly replays?: Counter;
  readonly log?: Logger;
};

/** What the handler of a mutation gets. */
export type IdempotentRun = {
  /** The op id of one store write of the handler: derived from the key when there is one, else random. */
  opId(part: string): string;
  /** The key's hash base when a key was given (e.g. to derive an order id), else undefined. */
  readonly base: string | undefined;
};

export type Idempotency = {
  /**
   * Runs a mutation once per (scope, key). `scope` separates users (the same key from two
   * users is two mutations). Without a key (`undefined`) it just runs. Returns the answer
   * and whether it was replayed from the store.
   */
  run(
    view: StoreClient,
    scope: string,
    key: string | undefined,
    handler: (run: IdempotentRun) => Promise<JsonAnswer>,
  ): Promise<JsonAnswer & { replayed: boolean }>;
};

/**
 * The body is kept as its JSON text: the store sorts object keys, and a replay answers the
 * same bytes. `session` is the store token after the first run: a replay merges it into the
 * request's, so the user's next reads see what the first run wrote, wherever they land.
 */
type KeptAnswer = { status: number; bodyJson: string; session?: string };

/** Checks an Idempotency-Key header; undefined when absent. */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined || key === "") return undefined;
  if (!keyRe.test(key)) {
    throw sdkErrors.create("RS_ERR_SDK_BAD_IDEMPOTENCY_KEY", `${JSON.stringify(key.slice(0, 140))}`);
  }
  return key;
}

/** The base of every op id and record of (scope, key): fixed length, so any scope and key fit the store's 128-character op ids. */
export function idempotencyBase(scope: string, key: string): string {
  return `k${createHash("sha256").update(`${scope}\u0000${key}`).digest("base64url").slice(0, 32)}`;
}

export function createIdempotency(init: IdempotencyInit): Idempotency {
  return {
    async run(view, scope, key, handler) {
      if (key === undefined) {
        let n = 0;
        const random = `r${randomUUID()}`;
        const answer = await handler({ opId: (part) => `${random}.${part}.${n++}`, base: undefined });
        return { ...answer, replayed: false };
      }
      const base = idempotencyBase(scope, key);
      const recordKey = `${idempotencyKeyPrefix}${base}`;
      const kept = await view.get(recordKey);
      if (kept.exists && isKeptAnswer(kept.value)) {
        init.replays?.inc();
        if (typeof kept.value.session === "string") view.observeSession(kept.value.session);
        return { status: kept.value.status, body: JSON.parse(kept.value.bodyJson), replayed: true };
      }
      let answer: JsonAnswer;
      try {
        answer = await handler({ opId: (part) => `${base}.${part}`, base });
      } catch (err) {
        // Refused input (4xx) is an answer too: kept, so a retry answers the same even if the
        // state changed meanwhile. A 5xx is an outcome not known: thrown, not kept.
        const refused = errorAnswer(err);
        if (!isRedshirtError(err) || refused.status >= 500) throw err;
        answer = refused;
      }
      // 5xx answers are not kept: the outcome was unknown, and the retry should try again.
      if (answer.status < 500) {
        const record: KeptAnswer = {
          status: answer.status,
          bodyJson: JSON.stringify(answer.body),
          ...(view.session === undefined ? {} : { session: view.session }),
        };
        try {
          // Written outside the session: the kept answer is not the user's state, and a
          // session token that named it would hold the session's later reads in another
          // site to a write at the keeper's (maybe local) level, which a site loss can take.
          await view
            .withSession(undefined)
            .put(recordKey, record, { ...init.writeOptions, ttlS: init.ttlS, opId: `${base}.answer` });
        } catch (err) {
          // The mutation is applied; a retry runs the handler again and its writes are
          // duplicates, so answering now is right. Counted and logged, not hidden.
          init.keepFailures?.inc();
          init.log?.warn("idempotency: could not keep the answer", { err, scope });
        }
      }
      return { ...answer, replayed: false };
    },
  };
}

function isKeptAnswer(v: unknown): v is KeptAnswer {
  const k = v as Partial<KeptAnswer> | null;
  return typeof k === "object" && k !== null && typeof k.status === "number" && typeof k.bodyJson === "string";
}
