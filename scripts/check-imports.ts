// Keeps the part boundaries honest: a file under src/<part>/ may import another part only
// through its index.ts, and there are no circular imports between files. Fails the build
// otherwise (what Yjs's lint and TigerBeetle's tidy do for their trees).
import { globSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const files = globSync("src/**/*.ts").filter((f) => !f.endsWith(".test.ts"));
const importRe = /^\s*(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']/gm;
const graph = new Map<string, string[]>();
const problems: string[] = [];

for (const file of files) {
  const text = readFileSync(file, "utf8");
  const deps: string[] = [];
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith(".")) continue;
    const target = normalize(join(dirname(file), spec));
    const fromPart = relative("src", file).split("/")[0];
    const toPart = relative("src", target).split("/")[0];
    if (fromPart !== toPart && relative(join("src", toPart), target) !== "index.ts") {
      problems.push(`${file}: imports ${spec} — import another part only through src/${toPart}/index.ts`);
    }
    // A type-only import does not run at load time, so it cannot form a load cycle.
    if (/^\s*(import|export)\s+type\s/.test(m[0])) continue;
    deps.push(target);
  }
  graph.set(normalize(file), deps);
}

const state = new Map<string, "visiting" | "done">();
const stack: string[] = [];
function visit(file: string): void {
  if (state.get(file) === "done") return;
  if (state.get(file) === "visiting") {
    problems.push(`circular import: ${[...stack.slice(stack.indexOf(file)), file].join(" -> ")}`);
    return;
  }
  state.set(file, "visiting");
  stack.push(file);
  for (const dep of graph.get(file) ?? []) visit(dep);
  stack.pop();
  state.set(file, "done");
}
for (const file of graph.keys()) visit(file);

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(`imports ok: ${files.length} files, part boundaries and no cycles`);
