// POST /v1/chat/completions: renders the messages with the model's chat template, then generates.
import type { Hono } from "hono";
import { ChatTemplateError, renderChat } from "../../chat/template.ts";
import type { AppEnv, AppOptions } from "../app.ts";
import { checkModel, readJson } from "../app.ts";
import { ApiError } from "../errors.ts";
import { choicesOf, respond, samplingFrom, stopsFrom, type Shape } from "../respond.ts";
import { chatRequest } from "../schemas.ts";
import { requireInfo, dlmFrom } from "./common.ts";

const chatShape: Shape = {
  object: "chat.completion",
  chunkObject: "chat.completion.chunk",
  idPrefix: "chatcmpl",
  choice: (index, text, finish, logprobs) => ({
    index,
    message: { role: "assistant", content: text },
    logprobs: logprobs ? { content: logprobs.map(lp) } : null,
    finish_reason: finish,
  }),
  delta: (index, text, first, logprobs) => ({
    index,
    delta: first ? { role: "assistant", content: "" } : { content: text },
    logprobs: logprobs ? { content: logprobs.map(lp) } : null,
    finish_reason: null,
  }),
  finish: (index, finish) => ({ index, delta: {}, logprobs: null, finish_reason: finish }),
};

function lp(l: { token: string; bytes: number[]; logprob: number; topLogprobs: { token: string; bytes: number[]; logprob: number }[] }) {
  return { token: l.token, bytes: l.bytes, logprob: l.logprob, top_logprobs: l.topLogprobs };
}

export function chatRoutes(app: Hono<AppEnv>, o: AppOptions): void {
  app.post("/v1/chat/completions", async (c) => {
    const body = chatRequest.parse(await readJson(c.req.raw, o.bodyLimit));
    checkModel(body.model, o.modelId);
    const info = requireInfo(o);
    let prompt: string;
    try {
      prompt = renderChat(
        info.chatTemplate,
        body.messages.map((m) => ({ role: m.role, content: m.content ?? null, name: m.name, tool_call_id: m.tool_call_id })),
        { bosToken: info.bosText, eosToken: info.eosText, addGenerationPrompt: true },
      );
    } catch (e) {
      if (e instanceof ChatTemplateError) throw new ApiError(400, `the chat template failed: ${e.message}`, "invalid_request_error", "messages");
      throw e;
    }
    // Templates usually write BOS themselves; add it only when the model wants one and the template did not.
    const addSpecial = info.addBos && !(info.bosText !== "" && prompt.startsWith(info.bosText));
    const job = {
      prompt: { text: prompt, addSpecial, parseSpecial: true },
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? o.defaults.maxTokens,
      stop: stopsFrom(body),
      sampling: samplingFrom(body),
      logprobs: body.logprobs ? (body.top_logprobs ?? 0) : null,
      dlm: dlmFrom(body.dlm, o, info),
      ignoreEos: body.ignore_eos ?? false,
    };
    return respond(c, choicesOf(job, body.n ?? 1), {
      client: o.client,
      modelId: o.modelId,
      metrics: o.metrics ?? null,
      shape: chatShape,
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
    });
  });
}
