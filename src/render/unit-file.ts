// Unit files, both ways: writing a value so systemd reads it back as meant (its quoting,
// `%` specifiers and `$` variables), and reading a rendered unit's sections and the
// command lines systemd would run (a test starts a site's processes from them where
// systemd is not PID 1). Only what our units use: no line continuations, no `-@:+!` prefixes.
import { renderErrors } from "./errors.ts";

/** A control character (a newline above all) would end the unit line early: refuse it. */
function assertPlain(text: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for exactly those
  if (/[\x00-\x1f\x7f]/.test(text)) {
    throw renderErrors.create(
      "RS_ERR_RENDER_BAD_OPTION",
      `${JSON.stringify(text)}: a unit file value cannot hold control characters`,
    );
  }
}

export type UnitSection = ReadonlyMap<string, readonly string[]>;
export type UnitFile = ReadonlyMap<string, UnitSection>;

/** One word of a command line: quoted when it holds blanks or quotes; `%` and `$` escaped unless meant. */
export function unitWord(text: string, options: { keepVariables?: boolean; keepSpecifiers?: boolean } = {}): string {
  assertPlain(text);
  let s = text;
  if (!options.keepSpecifiers) s = s.replaceAll("%", "%%");
  // A function: in a replacement string "$$" would mean one "$".
  if (!options.keepVariables) s = s.replaceAll("$", () => "$$");
  if (s !== "" && !/[\s"'\\]/.test(s)) return s;
  return `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** An `Environment=` assignment of one variable. */
export function environmentLine(name: string, value: string, options: { keepSpecifiers?: boolean } = {}): string {
  assertPlain(value);
  const v = options.keepSpecifiers ? value : value.replaceAll("%", "%%");
  return `Environment=${/[\s"'\\]/.test(v) ? `"${name}=${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"` : `${name}=${v}`}`;
}

export function formatUnit(sections: readonly (readonly [string, readonly (string | undefined)[]])[]): string {
  return `${sections
    .map(([name, lines]) => [`[${name}]`, ...lines.filter((l): l is string => l !== undefined)].join("\n"))
    .join("\n\n")}\n`;
}

export function parseUnit(text: string): UnitFile {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[([^\]]+)\]$/.exec(line);
    if (head) {
      section = out.get(head[1]) ?? new Map();
      out.set(head[1], section);
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq <= 0) throw new Error(`not a unit file line: ${JSON.stringify(raw)}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** Splits a value into words as systemd does: double or single quotes, backslash escapes. */
export function splitWords(value: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === " " || value[i] === "\t") i++;
    if (i >= value.length) break;
    let word = "";
    let quote: string | undefined;
    for (; i < value.length; i++) {
      const c = value[i];
      if (quote === undefined && (c === " " || c === "\t")) break;
      if (c === "\\" && quote !== "'" && i + 1 < value.length) word += value[++i];
      else if (quote === undefined && (c === '"' || c === "'")) quote = c;
      else if (c === quote) quote = undefined;
      else word += c;
    }
    if (quote !== undefined) throw new Error(`unterminated quote in ${JSON.stringify(value)}`);
    words.push(word);
  }
  return words;
}

/** Replaces `%i` (the instance) and `%%`, and refuses any other specifier, as a rendered unit uses no other. */
export function expandSpecifiers(text: string, instance: string): string {
  return text.replace(/%(.)/g, (_, c: string) => {
    if (c === "%") return "%";
    if (c === "i") return instance;
    throw new Error(`specifier %${c} is not one a rendered unit uses`);
  });
}

/** `${NAME}` and `$NAME` from env, `$$` as `$`: what systemd does to ExecStart words. */
export function expandVariables(word: string, env: Readonly<Record<string, string>>): string {
  return word.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a?: string, b?: string) =>
    m === "$$" ? "$" : (env[a ?? b ?? ""] ?? ""),
  );
}

export type UnitCommand = { readonly argv: readonly string[]; readonly env: Readonly<Record<string, string>> };

/**
 * The command and environment systemd would start for a unit (a template with its
 * instance), given what systemd itself adds (e.g. STATE_DIRECTORY for StateDirectory=).
 */
export function unitCommand(
  unit: UnitFile,
  instance: string,
  systemdEnv: Readonly<Record<string, string>>,
): UnitCommand {
  const service = unit.get("Service");
  const execStart = service?.get("ExecStart");
  if (!service || execStart?.length !== 1) throw new Error("a rendered service has exactly one ExecStart=");
  const env: Record<string, string> = { ...systemdEnv };
  for (const line of service.get("Environment") ?? []) {
    for (const word of splitWords(expandSpecifiers(line, instance))) {
      const eq = word.indexOf("=");
      if (eq <= 0) throw new Error(`Environment= word without '=': ${word}`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  // systemd expands variables in the arguments, not in the executable's name (which may not hold `$` at all).
  const argv = splitWords(expandSpecifiers(execStart[0], instance)).map((w, i) =>
    i === 0 ? w : expandVariables(w, env),
  );
  return { argv, env };
}

/** A systemd time span ("200ms", "30s", "0", "5min") in milliseconds. */
export function timeSpanMs(text: string): number {
  let total = 0;
  const units: Record<string, number> = { "": 1000, ms: 1, s: 1000, sec: 1000, min: 60_000, m: 60_000, h: 3_600_000 };
  const parts = text.trim().match(/(\d+(?:\.\d+)?)\s*([a-z]*)/g);
  if (!parts || parts.join("").replaceAll(" ", "") !== text.trim().replaceAll(" ", "")) {
    throw new Error(`not a time span: ${JSON.stringify(text)}`);
  }
  for (const p of parts) {
    const m = /(\d+(?:\.\d+)?)\s*([a-z]*)/.exec(p);
    const unit = units[m?.[2] ?? "x"];
    if (!m || unit === undefined) throw new Error(`not a time span: ${JSON.stringify(text)}`);
    total += Number(m[1]) * unit;
  }
  return total;
}
