// The error registries of every part and docs/errors.md list exactly the same codes, so an
// operator who meets a code can always look it up.
import assert from "node:assert/strict";
import { globSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { errorRegistries } from "../src/core/index.ts";

test("errors - every registered code is documented and every documented code is registered", async () => {
  for (const index of globSync("src/*/index.ts")) await import(resolve(index));
  const registered = new Set<string>();
  for (const codes of errorRegistries.values()) for (const code of Object.keys(codes)) registered.add(code);
  const documented = new Set(readFileSync("docs/errors.md", "utf8").match(/RS_ERR_[A-Z0-9_]+/g) ?? []);
  assert.deepEqual([...registered].filter((c) => !documented.has(c)).sort(), [], "codes missing from docs/errors.md");
  assert.deepEqual(
    [...documented].filter((c) => !registered.has(c)).sort(),
    [],
    "codes in docs/errors.md but not registered",
  );
});

test("errors - every code carries a 4xx or 5xx status and a message that says what to do", () => {
  for (const [part, codes] of errorRegistries) {
    for (const [code, spec] of Object.entries(codes)) {
      assert.ok(spec.status >= 400 && spec.status < 600, `${part} ${code} status`);
      assert.ok(spec.message.length > 20, `${part} ${code} message too short`);
    }
  }
});

test("errors - every store code says whether a write that met it certainly did not happen (definite), in the registry and in docs/errors.md", async () => {
  for (const index of globSync("src/*/index.ts")) await import(resolve(index));
  const store = errorRegistries.get("store") ?? {};
  assert.ok(Object.keys(store).length > 10);
  const doc = readFileSync("docs/errors.md", "utf8");
  for (const [code, spec] of Object.entries(store)) {
    assert.equal(typeof spec.definite, "boolean", `${code} has no definite flag`);
    const row = doc.split("\n").find((l) => l.startsWith(`| ${code} `));
    assert.ok(row, `${code} has a row`);
    const cells = row.split("|").map((c) => c.trim());
    assert.equal(cells[3], spec.definite ? "yes" : "no", `${code}: the definite column matches the registry`);
  }
});
