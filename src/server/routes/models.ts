// GET /v1/models and /v1/models/{id}: the one loaded model, with its facts as an extension field.
import type { Hono } from "hono";
import type { AppEnv, AppOptions } from "../app.ts";
import { ApiError } from "../errors.ts";

const created = Math.floor(Date.now() / 1000);

export function modelRoutes(app: Hono<AppEnv>, o: AppOptions): void {
  const model = () => {
    const i = o.client.info;
    return {
      id: o.modelId,
      object: "model",
      created,
      owned_by: "local",
      meta: i
        ? {
            engine: o.client.kind,
            arch: i.arch,
            format: i.format,
            n_ctx: i.nCtx,
            n_ctx_train: i.nCtxTrain,
            n_vocab: i.nVocab,
            n_embd: i.nEmbd,
            n_layers: i.nLayers,
            n_parallel: i.nSeqMax,
            size_bytes: i.fileBytes,
            mask_token: i.maskToken,
          }
        : { engine: o.client.kind, loading: true },
    };
  };
  app.get("/v1/models", (c) => c.json({ object: "list", data: [model()] }));
  app.get("/v1/models/:id{.+}", (c) => {
    const id = c.req.param("id");
    if (id !== o.modelId) throw new ApiError(404, `the model '${id}' does not exist; this server serves '${o.modelId}'`, "not_found_error", "model", "model_not_found");
    return c.json(model());
  });
}
