// One error type for every HTTP failure, in OpenAI's shape, and the table that maps engine errors to it.
// Routes throw ApiError; app.ts's single error handler renders it (and turns anything else into a 500).
import { ZodError } from "zod";
import { EngineError } from "../engine/errors.ts";

export type ApiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error"
  | "service_unavailable";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType = status >= 500 ? "server_error" : "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Engine error kinds → HTTP. One table, so every path reports the same failure the same way. */
const ENGINE_STATUS: Record<EngineError["kind"], [number, ApiErrorType]> = {
  invalid_request: [400, "invalid_request_error"],
  context_length_exceeded: [400, "invalid_request_error"],
  not_ready: [503, "service_unavailable"],
  overloaded: [429, "rate_limit_error"],
  queue_timeout: [503, "service_unavailable"],
  cancelled: [499 as number, "invalid_request_error"],
  shutting_down: [503, "service_unavailable"],
  internal: [500, "server_error"],
};

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ZodError) return fromZod(e);
  if (e instanceof EngineError) {
    const [status, type] = ENGINE_STATUS[e.kind];
    const headers: Record<string, string> = e.retryAfterS ? { "retry-after": String(e.retryAfterS) } : {};
    return new ApiError(status, e.message, type, e.param, e.kind, headers);
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new ApiError(500, `internal error: ${msg}`, "server_error");
}

/** zod failure → 400 with the first failing field as OpenAI's `param` (dotted path, e.g. messages.0.role). */
export function fromZod(e: ZodError): ApiError {
  const issue = e.issues[0];
  const path = issue ? issue.path.map(String).join(".") : "";
  const what = issue ? issue.message : "invalid request";
  return new ApiError(400, path ? `${path}: ${what}` : what, "invalid_request_error", path || null, "invalid_value");
}
