// Keeps the part boundaries honest: a file under src/<part>/ may import another part only
// through its index.ts, and there are no circular imports between files. Fails the build
// otherwise (what Yjs's lint and TigerBeetle's tidy do for their trees).
//
// Test kits: a part may keep simulators and compliance suites in a `testkit/` folder
// (src/store/testkit/). Production code (any src file that is neither a test nor inside a
// testkit) never imports a testkit, not even of its own part. Tests (`*.test.ts` under src/,
// and everything under test/) may import another part's testkit only through
// `src/<part>/testkit/index.ts`, the one narrow exception to "only through index.ts".
import { globSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";

const importRe = /^\s*(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']/gm;
const isTest = (f: string) => f.endsWith(".test.ts") || f.startsWith(`test${sep}`);
const inTestkit = (f: string) => f.split(sep).includes("testkit");
const files = globSync("src/**/*.ts").filter((f) => !isTest(f));
const tests = [...globSync("src/**/*.test.ts"), ...globSync("test/**/*.ts")];
const graph = new Map<string, string[]>();
const problems: string[] = [];

function importsOf(file: string): { spec: string; target: string; typeOnly: boolean }[] {
  const out = [];
  for (const m of readFileSync(file, "utf8").matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith(".")) continue;
    // A type-only import does not run at load time, so it cannot form a load cycle.
    out.push({
      spec,
      target: normalize(join(dirname(file), spec)),
      typeOnly: /^\s*(import|export)\s+type\s/.test(m[0]),
    });
  }
  return out;
}

for (const file of files) {
  const deps: string[] = [];
  for (const { spec, target, typeOnly } of importsOf(file)) {
    const fromPart = relative("src", file).split(sep)[0];
    const toPart = relative("src", target).split(sep)[0];
    if (fromPart !== toPart && relative(join("src", toPart), target) !== "index.ts") {
      problems.push(`${file}: imports ${spec} — import another part only through src/${toPart}/index.ts`);
    }
    if (!inTestkit(file) && inTestkit(target)) {
      problems.push(`${file}: imports ${spec} — production code never imports a testkit (tests only)`);
    }
    if (!typeOnly) deps.push(target);
  }
  graph.set(normalize(file), deps);
}

for (const file of tests) {
  const fromPart = file.startsWith(`src${sep}`) ? relative("src", file).split(sep)[0] : undefined;
  for (const { spec, target } of importsOf(file)) {
    if (!target.startsWith(`src${sep}`) || !inTestkit(target)) continue;
    const toPart = relative("src", target).split(sep)[0];
    if (fromPart !== toPart && relative(join("src", toPart), target) !== join("testkit", "index.ts")) {
      problems.push(
        `${file}: imports ${spec} — tests of other parts import a testkit only through src/${toPart}/testkit/index.ts`,
      );
    }
  }
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
console.log(
  `imports ok: ${files.length} files and ${tests.length} tests, part boundaries, no testkit in production, no cycles`,
);
