// Logs are one JSON object per line on stderr, so a person can read them and a machine
// can parse them. Tracing goes through node:diagnostics_channel instead (see channel()).
import diagnostics from "node:diagnostics_channel";

export type LogLevel = "debug" | "info" | "warn" | "error";
const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Logger = {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
};

export function createLogger(
  base: Record<string, unknown> = {},
  options: { level?: LogLevel; write?: (line: string) => void } = {},
): Logger {
  const minRank = levelRank[options.level ?? ((process.env.REDSHIRT_LOG_LEVEL as LogLevel) || "info")] ?? 20;
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (levelRank[level] < minRank) return;
    const entry: Record<string, unknown> = { t: new Date().toISOString(), level, msg, ...base, ...fields };
    for (const [k, v] of Object.entries(entry)) {
      if (v instanceof Error) entry[k] = { message: v.message, code: (v as { code?: string }).code };
    }
    write(`${JSON.stringify(entry)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, options),
  };
}

/** A tracing channel named `redshirt:<part>:<event>`; free when nobody subscribes. */
export function channel(part: string, event: string): diagnostics.Channel {
  return diagnostics.channel(`redshirt:${part}:${event}`);
}
