// POST /tokenize and /detokenize (llama.cpp server's shape): the loaded model's own tokenizer.
import type { Hono } from "hono";
import type { AppEnv, AppOptions } from "../app.ts";
import { readJson } from "../app.ts";
import { ApiError } from "../errors.ts";
import { detokenizeRequest, tokenizeRequest } from "../schemas.ts";
import { requireInfo } from "./common.ts";

export function tokenizeRoutes(app: Hono<AppEnv>, o: AppOptions): void {
  app.post("/tokenize", async (c) => {
    const body = tokenizeRequest.parse(await readJson(c.req.raw, o.bodyLimit));
    const info = requireInfo(o);
    const tokens = await o.client.tokenize(body.content, body.add_special ?? info.addBos, body.parse_special ?? true);
    if (!body.with_pieces) return c.json({ tokens });
    const pieces = await Promise.all(tokens.map((t) => o.client.detokenize([t])));
    return c.json({ tokens: tokens.map((id, i) => ({ id, piece: pieces[i] })) });
  });
  app.post("/detokenize", async (c) => {
    const body = detokenizeRequest.parse(await readJson(c.req.raw, o.bodyLimit));
    const { nVocab } = requireInfo(o);
    const bad = body.tokens.findIndex((t) => t >= nVocab);
    if (bad >= 0) throw new ApiError(400, `tokens.${bad}: token id ${body.tokens[bad]} is outside the vocabulary (0..${nVocab - 1})`, "invalid_request_error", `tokens.${bad}`);
    return c.json({ content: await o.client.detokenize(body.tokens) });
  });
}
