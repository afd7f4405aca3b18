// Helpers shared by the generation routes: the loaded model's facts, and the per-request DLM override.
import type { ModelInfo } from "../../engine/engine.ts";
import type { DlmOptions } from "../../engine/protocol.ts";
import type { AppOptions } from "../app.ts";
import { ApiError } from "../errors.ts";
import type { ChatRequest } from "../schemas.ts";
import { DlmConfigError, resolveDlm } from "../../generate/dlm-config.ts";
import { constraintFor } from "../../generate/constrained.ts";
import { SchemaError, type JsonSchema } from "../../generate/json-constraint.ts";
import type { Job } from "../../engine/protocol.ts";

export function requireInfo(o: AppOptions): ModelInfo {
  const info = o.client.info;
  if (!info) throw new ApiError(503, "the model is still loading; retry shortly", "service_unavailable", null, "model_loading", { "retry-after": "2" });
  return info;
}

/**
 * `dlm` in a request: absent → the server's default; false → plain decoding; true or an object →
 * block diffusion, with the object's fields over the server's settings.
 */
export function dlmFrom(v: ChatRequest["dlm"], o: AppOptions, info: ModelInfo): DlmOptions | null {
  const c = o.defaults.dlm;
  if (v === false || (v == null && !c.enabled)) return null;
  try {
    return resolveDlm(c, info, typeof v === "object" && v !== null ? v : {});
  } catch (e) {
    if (e instanceof DlmConfigError) throw new ApiError(400, e.message, "invalid_request_error", "dlm", "dlm_unavailable");
    throw e;
  }
}

/** response_format → a constraint for the worker (null: free text); a schema we cannot enforce is a 400. */
export function constraintFrom(f: ChatRequest["response_format"], param: string): Job["constraint"] {
  if (!f || f.type === "text") return null;
  if (f.type === "json_object") return { schema: null };
  return checkedConstraint(f.json_schema.schema ?? {}, `${param}.json_schema.schema`);
}

/** Compiles the schema here (cached, so the worker reuses nothing but the check is early). */
export function checkedConstraint(schema: JsonSchema, param: string): NonNullable<Job["constraint"]> {
  try {
    constraintFor(schema);
  } catch (e) {
    if (e instanceof SchemaError) throw new ApiError(400, `${param}: ${e.message}`, "invalid_request_error", param, "unsupported_schema");
    throw e;
  }
  return { schema };
}
