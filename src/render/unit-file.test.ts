// Unit-file quoting both ways: whatever a rendered unit's ExecStart= argument or
// Environment= value is (a path with blanks, quotes, `%`, `$`, backslashes), reading the
// line back as systemd does gives exactly it; a control character is refused, naming the
// value. (systemd-analyze verify agrees on the quoting: for ExecStart="/tmp/rs q/a\"b'c%%d"
// it names the executable /tmp/rs q/a"b'c%d.)
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { environmentLine, parseUnit, splitWords, timeSpanMs, unitCommand, unitWord } from "./unit-file.ts";

/** `${NAME}`, as a unit file writes a variable systemd expands. */
const braced = (name: string): string => ["$", "{", name, "}"].join("");

// biome-ignore lint/suspicious/noControlCharactersInRegex: what a unit value must not hold
const anyText = fc.string({ unit: "grapheme", maxLength: 24 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s));
/** Mostly the characters unit files treat specially, so every run meets them. */
const tricky = fc.string({
  unit: fc.constantFrom(" ", '"', "'", "\\", "%", "$", "{", "}", "i", "A", "é", "/"),
  maxLength: 16,
});
const plain = fc.oneof(tricky, anyText);

test("unit file - ExecStart= words read back as written, whatever they hold", () => {
  fc.assert(
    fc.property(fc.array(plain, { maxLength: 6 }), (words) => {
      const unit = parseUnit(`[Service]\nExecStart=/opt/redshirt/bin/x ${words.map((w) => unitWord(w)).join(" ")}\n`);
      assert.deepEqual(unitCommand(unit, "", {}).argv, ["/opt/redshirt/bin/x", ...words]);
    }),
    { numRuns: 500 },
  );
});

test("unit file - Environment= values read back as written, whatever they hold", () => {
  fc.assert(
    fc.property(plain, plain, (a, b) => {
      const unit = parseUnit(
        `[Service]\n${environmentLine("A", a)}\n${environmentLine("B", b)}\nExecStart=/bin/true "${braced("A")}" $$B\n`,
      );
      const cmd = unitCommand(unit, "", {});
      assert.equal(cmd.env.A, a);
      assert.equal(cmd.env.B, b);
      // `${A}` is expanded by systemd; `$$B` is a literal `$B`.
      assert.deepEqual(cmd.argv, ["/bin/true", a, "$B"]);
    }),
    { numRuns: 300 },
  );
});

test("unit file - a kept %i is the instance, a kept braced variable is the variable", () => {
  const stateDirectory = braced("STATE_DIRECTORY");
  const unit = parseUnit(
    `[Service]\n${environmentLine("HOST", "10.0.4.%i", { keepSpecifiers: true })}\nExecStart=/bin/x --dir ${unitWord(stateDirectory, { keepVariables: true })} %i\n`,
  );
  const cmd = unitCommand(unit, "7", { STATE_DIRECTORY: "/var/lib/redshirt/a b" });
  assert.equal(cmd.env.HOST, "10.0.4.7");
  assert.deepEqual(cmd.argv, ["/bin/x", "--dir", "/var/lib/redshirt/a b", "7"]);
});

test("unit file - a control character in a value is refused, naming the value", () => {
  assert.throws(() => unitWord("/opt/a\nExecStartPre=/bin/evil"), /RS_ERR_RENDER_BAD_OPTION|control characters/);
  assert.throws(() => environmentLine("X", "a\rb"), /control characters/);
  assert.throws(() => splitWords('"unterminated'), /unterminated quote/);
});

test("unit file - time spans in systemd's units", () => {
  assert.equal(timeSpanMs("200ms"), 200);
  assert.equal(timeSpanMs("30s"), 30_000);
  assert.equal(timeSpanMs("0"), 0);
  assert.equal(timeSpanMs("1min 30s"), 90_000);
  assert.throws(() => timeSpanMs("soon"));
});
