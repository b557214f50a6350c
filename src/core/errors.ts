// One error base class for the whole product. Every error an operator or a client can
// meet has a stable code (`RS_ERR_<PART>_<PROBLEM>`) and a message that says what
// happened and what to do. Match on `code`, never on the message. Each part declares its
// codes in its own `errors.ts` with `defineErrors`; `docs/errors.md` lists exactly the
// same codes (a test keeps them in step). Retired codes are never reused.

export type ErrorSpec = {
  /** HTTP status a server answers with when this error reaches a client. */
  readonly status: number;
  /** What happened and what to do; the detail given at the throw site is appended. */
  readonly message: string;
  /**
   * For errors a write can meet: true when the write certainly did not happen (report the
   * failure), false when it may have (retry with the same op id). Each such code is raised
   * on one side of "applied" only. Sent in the HTTP body as `definite`.
   */
  readonly definite?: boolean;
};

export class RedshirtError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: Record<string, unknown> | undefined;
  /** See ErrorSpec.definite; undefined for codes no write meets. */
  readonly definite: boolean | undefined;

  constructor(
    code: string,
    spec: ErrorSpec,
    text: string | undefined,
    options?: { cause?: unknown; detail?: Record<string, unknown> },
  ) {
    super(text ? `${spec.message}: ${text}` : spec.message, options?.cause ? { cause: options.cause } : undefined);
    this.name = "RedshirtError";
    this.code = code;
    this.status = spec.status;
    this.detail = options?.detail;
    this.definite = spec.definite;
  }

  toJSON(): { error: { code: string; message: string; definite?: boolean; detail?: Record<string, unknown> } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.definite === undefined ? {} : { definite: this.definite }),
        ...(this.detail ? { detail: this.detail } : {}),
      },
    };
  }
}

/** Every registry declared so far, by part; the docs test reads it. */
export const errorRegistries = new Map<string, Record<string, ErrorSpec>>();

export type ErrorFactory<Codes extends string> = {
  readonly codes: Readonly<Record<Codes, ErrorSpec>>;
  create(code: Codes, text?: string, options?: { cause?: unknown; detail?: Record<string, unknown> }): RedshirtError;
};

/** Declares a part's error codes. Codes must start with `RS_ERR_<PART>_`. */
export function defineErrors<Codes extends string>(part: string, codes: Record<Codes, ErrorSpec>): ErrorFactory<Codes> {
  const prefix = `RS_ERR_${part.toUpperCase()}_`;
  for (const code of Object.keys(codes)) {
    if (!code.startsWith(prefix)) throw new Error(`error code ${code} must start with ${prefix}`);
  }
  // A part may declare its codes in more than one file (e.g. the gateway and the DNS server
  // of the traffic part); the registry is their union and a code is declared once.
  const existing = errorRegistries.get(part) ?? {};
  for (const code of Object.keys(codes)) {
    if (code in existing) throw new Error(`error code ${code} declared twice`);
  }
  errorRegistries.set(part, { ...existing, ...codes });
  return {
    codes,
    create(code, text, options) {
      return new RedshirtError(code, codes[code], text, options);
    },
  };
}

export function isRedshirtError(err: unknown, code?: string): err is RedshirtError {
  return err instanceof RedshirtError && (code === undefined || err.code === code);
}
