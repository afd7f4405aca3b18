// POST /v1/chat/completions: renders the messages with the model's chat template, then generates.
import type { Hono } from "hono";
import { ChatTemplateError, needsBos, renderChat } from "../../chat/template.ts";
import type { AppEnv, AppOptions } from "../app.ts";
import { checkModel, readJson } from "../app.ts";
import { ApiError } from "../errors.ts";
import { choicesOf, respond, samplingFrom, stopsFrom, type Shape } from "../respond.ts";
import { chatRequest } from "../schemas.ts";
import { checkedConstraint, constraintFrom, dlmFrom, requireInfo } from "./common.ts";
import { parseToolCalls, ToolCallStream, ToolError, toolCallSchema, validateTools, type Delta, type ToolChoice, type ToolDef } from "../../chat/tool-calls.ts";

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

    // Tools: validated here so a bad definition is a 400 naming the field.
    let tools: ToolDef[] = [];
    const choice: ToolChoice = body.tool_choice ?? (body.tools?.length ? "auto" : "none");
    try {
      if (body.tools?.length) tools = validateTools(body.tools);
    } catch (e) {
      if (e instanceof ToolError) throw new ApiError(400, e.message, "invalid_request_error", e.param);
      throw e;
    }
    if (choice !== "none" && typeof choice === "object" && !tools.some((t) => t.function.name === choice.function.name)) {
      throw new ApiError(400, `tool_choice names '${choice.function.name}', which is not in tools`, "invalid_request_error", "tool_choice");
    }
    if (choice !== "none" && choice !== "auto" && tools.length === 0) throw new ApiError(400, "tool_choice needs tools", "invalid_request_error", "tool_choice");
    const useTools = tools.length > 0 && choice !== "none";
    const forced = useTools ? toolCallSchema(tools, choice) : null;
    const format = constraintFrom(body.response_format, "response_format");
    if (forced && format) throw new ApiError(400, "response_format cannot be combined with a forced tool_choice", "invalid_request_error", "response_format");
    const constraint = forced ? checkedConstraint(forced, "tools") : format;

    let prompt: string;
    try {
      prompt = renderChat(
        info.chatTemplate,
        body.messages.map((m) => ({ role: m.role, content: m.content ?? null, name: m.name, tool_call_id: m.tool_call_id, tool_calls: m.tool_calls })),
        { bosToken: info.bosText, eosToken: info.eosText, addGenerationPrompt: true, tools: useTools ? tools : undefined },
      );
    } catch (e) {
      if (e instanceof ChatTemplateError) throw new ApiError(400, `the chat template failed: ${e.message}`, "invalid_request_error", "messages");
      throw e;
    }
    const job = {
      prompt: { text: prompt, addSpecial: needsBos(prompt, info), parseSpecial: true },
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? o.defaults.maxTokens,
      stop: stopsFrom(body),
      sampling: samplingFrom(body),
      logprobs: body.logprobs ? (body.top_logprobs ?? 0) : null,
      // Constrained output is decoded token by token (block diffusion commits unchecked windows).
      dlm: constraint ? null : dlmFrom(body.dlm, o, info),
      ignoreEos: body.ignore_eos ?? false,
      constraint,
    };
    return respond(c, choicesOf(job, body.n ?? 1), {
      client: o.client,
      modelId: o.modelId,
      metrics: o.metrics ?? null,
      shape: useTools ? toolShape(tools) : chatShape,
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
    });
  });
}

/** Chat with tools: the reply is parsed for tool calls (whole, or streamed through ToolCallStream). */
function toolShape(tools: ToolDef[]): Shape {
  const streams = new Map<number, ToolCallStream>();
  const sent = new Set<number>();
  const deltaOf = (index: number, d: Delta) => {
    if ("content" in d) return { index, delta: { content: d.content }, logprobs: null, finish_reason: null };
    sent.add(index);
    return { index, delta: { tool_calls: d.toolCalls }, logprobs: null, finish_reason: null };
  };
  return {
    ...chatShape,
    choice: (index, text, finish, logprobs) => {
      const { content, calls } = parseToolCalls(text, tools);
      return {
        index,
        message: { role: "assistant", content, ...(calls.length ? { tool_calls: calls } : {}) },
        logprobs: logprobs ? { content: logprobs.map(lp) } : null,
        finish_reason: calls.length ? "tool_calls" : finish,
      };
    },
    deltas: (index, text) => {
      let s = streams.get(index);
      if (!s) streams.set(index, (s = new ToolCallStream(tools)));
      return s.push(text).map((d) => deltaOf(index, d));
    },
    closing: (index, finish) => {
      const rest = (streams.get(index)?.finish() ?? []).map((d) => deltaOf(index, d));
      return [...rest, { index, delta: {}, logprobs: null, finish_reason: sent.has(index) ? "tool_calls" : finish }];
    },
  };
}
