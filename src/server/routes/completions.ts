// POST /v1/completions: plain text (or token ids) in, continuation out.
import type { Hono } from "hono";
import type { AppEnv, AppOptions } from "../app.ts";
import { checkModel, readJson } from "../app.ts";
import { choicesOf, respond, samplingFrom, stopsFrom, type Shape } from "../respond.ts";
import { completionRequest } from "../schemas.ts";
import { constraintFrom, dlmFrom, requireInfo } from "./common.ts";

const completionShape: Shape = {
  object: "text_completion",
  chunkObject: "text_completion",
  idPrefix: "cmpl",
  choice: (index, text, finish, logprobs) => ({ index, text, logprobs: logprobs ? legacyLogprobs(logprobs) : null, finish_reason: finish }),
  delta: (index, text, _first, logprobs) => ({ index, text, logprobs: logprobs ? legacyLogprobs(logprobs) : null, finish_reason: null }),
  finish: (index, finish) => ({ index, text: "", logprobs: null, finish_reason: finish }),
};

/** The legacy completions logprobs object (parallel arrays). */
function legacyLogprobs(l: { token: string; logprob: number; topLogprobs: { token: string; logprob: number }[] }[]) {
  return {
    tokens: l.map((x) => x.token),
    token_logprobs: l.map((x) => x.logprob),
    top_logprobs: l.map((x) => Object.fromEntries(x.topLogprobs.map((t) => [t.token, t.logprob]))),
    text_offset: l.reduce<number[]>((acc, x, i) => (acc.push(i === 0 ? 0 : acc[i - 1] + l[i - 1].token.length), acc), []),
  };
}

export function completionRoutes(app: Hono<AppEnv>, o: AppOptions): void {
  app.post("/v1/completions", async (c) => {
    const body = completionRequest.parse(await readJson(c.req.raw, o.bodyLimit));
    checkModel(body.model, o.modelId);
    const info = requireInfo(o);
    const p = body.prompt;
    const prompt =
      typeof p === "string" || typeof p[0] === "string"
        ? { text: typeof p === "string" ? p : (p[0] as string), addSpecial: info.addBos, parseSpecial: true }
        : { tokens: p as number[] };
    const job = {
      prompt,
      maxTokens: body.max_tokens ?? o.defaults.maxTokens,
      stop: stopsFrom(body),
      sampling: samplingFrom(body),
      logprobs: body.logprobs ?? null,
      dlm: dlmFrom(body.dlm, o, info),
      ignoreEos: body.ignore_eos ?? false,
      constraint: constraintFrom(body.response_format, "response_format"),
    };
    if (job.constraint) job.dlm = null;
    return respond(c, choicesOf(job, body.n ?? 1), {
      client: o.client,
      modelId: o.modelId,
      metrics: o.metrics ?? null,
      shape: completionShape,
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
    });
  });
}
