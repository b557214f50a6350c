// Bounded HTTP GETs that never throw: the JSON documents the drain reads from gateways
// ("refused" told apart: nobody listens, the process is gone) and the status codes of
// readiness probes.
import http from "node:http";

export type JsonGet =
  | { readonly kind: "json"; readonly status: number; readonly body: unknown }
  | { readonly kind: "refused" }
  | { readonly kind: "failed"; readonly reason: string };

const bodyBytesMax = 4 * 1024 * 1024;

export function httpGetJson(host: string, port: number, path: string, timeoutMs: number): Promise<JsonGet> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on("data", (c: Buffer) => {
        bytes += c.length;
        if (bytes > bodyBytesMax) {
          req.destroy();
          resolve({ kind: "failed", reason: "body too large" });
        } else chunks.push(c);
      });
      res.once("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        try {
          resolve({ kind: "json", status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        } catch {
          resolve({ kind: "json", status: res.statusCode ?? 0, body: undefined });
        }
      });
      res.once("error", (err) => resolve({ kind: "failed", reason: err.message }));
    });
    req.once("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once("error", (err: NodeJS.ErrnoException) =>
      resolve(err.code === "ECONNREFUSED" ? { kind: "refused" } : { kind: "failed", reason: err.message }),
    );
  });
}

/** GET path; resolves to the status code, or 0 when no answer came within timeoutMs. */
export function httpStatus(host: string, port: number, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode ?? 0));
      res.once("error", () => resolve(0));
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(0));
  });
}
