// One lifecycle for every long-lived thing: start() and stop() are idempotent, and stop()
// without start() is a no-op. A shared compliance test (lifecycle.test.ts) pins this.

export interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}
