// Typed engine errors: what the scheduler and engines raise, independent of HTTP.
// server/errors.ts maps each kind to a status through one table.

export type EngineErrorKind =
  | "invalid_request"
  | "context_length_exceeded"
  | "not_ready"
  | "overloaded"
  | "queue_timeout"
  | "cancelled"
  | "shutting_down"
  | "internal";

export class EngineError extends Error {
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
    readonly param: string | null = null,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = "EngineError";
  }

  /** Plain-object form that crosses the worker boundary (structured clone drops class identity). */
  toWire(): WireError {
    return { kind: this.kind, message: this.message, param: this.param, retryAfterS: this.retryAfterS };
  }

  static fromWire(w: WireError): EngineError {
    return new EngineError(w.kind, w.message, w.param, w.retryAfterS);
  }
}

export interface WireError {
  kind: EngineErrorKind;
  message: string;
  param: string | null;
  retryAfterS: number | null;
}
