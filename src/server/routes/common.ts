// Helpers shared by the generation routes: the loaded model's facts, and the per-request DLM override.
import type { ModelInfo } from "../../engine/engine.ts";
import type { DlmOptions } from "../../engine/protocol.ts";
import type { AppOptions } from "../app.ts";
import { ApiError } from "../errors.ts";
import type { ChatRequest } from "../schemas.ts";

export function requireInfo(o: AppOptions): ModelInfo {
  const info = o.client.info;
  if (!info) throw new ApiError(503, "the model is still loading; retry shortly", "service_unavailable", null, "model_loading", { "retry-after": "2" });
  return info;
}

/** `dlm` in a request: false/true switch the server default off/on; an object overrides its fields. */
export function dlmFrom(v: ChatRequest["dlm"], o: AppOptions): DlmOptions | null {
  if (v == null) return o.defaults.dlm;
  if (v === false) return null;
  const base = o.defaults.dlm;
  if (v === true && base) return base;
  throw new ApiError(501, "block-diffusion decoding is not available in this build yet", "invalid_request_error", "dlm", "not_implemented");
}
