// Turns a validated request into a Job and the job's events into an OpenAI response: one JSON body, or
// an SSE stream of chunks. Shared by chat and completions, which differ only in the object shapes.
import type { Context } from "hono";
import type { EngineClient } from "../engine/engine-host.ts";
import { EngineError } from "../engine/errors.ts";
import type { FinishReason, Job, JobEvent, Timings, TokenLogprob, Usage } from "../engine/protocol.ts";
import type { DlmConfig } from "../generate/dlm-config.ts";
import { defaultSampling, type SamplingParams } from "../generate/sampler.ts";
import { ApiError, toApiError } from "./errors.ts";
import type { CommonRequest } from "./schemas.ts";
import { sseResponse } from "./sse.ts";

export interface ServerDefaults {
  maxTokens: number;
  dlm: DlmConfig;
}

export function samplingFrom(r: CommonRequest): SamplingParams {
  const bias = new Map<number, number>();
  for (const [k, v] of Object.entries(r.logit_bias ?? {})) bias.set(Number(k), v);
  return {
    ...defaultSampling,
    temperature: r.temperature ?? defaultSampling.temperature,
    topP: r.top_p ?? defaultSampling.topP,
    topK: r.top_k ?? defaultSampling.topK,
    minP: r.min_p ?? defaultSampling.minP,
    repeatPenalty: r.repeat_penalty ?? defaultSampling.repeatPenalty,
    repeatLastN: r.repeat_last_n ?? defaultSampling.repeatLastN,
    presencePenalty: r.presence_penalty ?? defaultSampling.presencePenalty,
    frequencyPenalty: r.frequency_penalty ?? defaultSampling.frequencyPenalty,
    seed: r.seed ?? null,
    logitBias: bias.size > 0 ? bias : null,
  };
}

export function stopsFrom(r: CommonRequest): string[] {
  if (r.stop == null) return [];
  return typeof r.stop === "string" ? [r.stop] : r.stop;
}

/** The pieces that differ between chat and completions. */
export interface Shape {
  object: string;
  chunkObject: string;
  idPrefix: string;
  /** A choice of the final (non-streamed) response. */
  choice(text: string, finish: FinishReason, logprobs: TokenLogprob[] | null): Record<string, unknown>;
  /** A streamed choice delta; `first` is the opening chunk (chat sends the role there). */
  delta(text: string, first: boolean, logprobs: TokenLogprob[] | null): Record<string, unknown>;
  /** The streamed closing choice, carrying the finish reason. */
  finish(finish: FinishReason): Record<string, unknown>;
}

function usageJson(u: Usage) {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.promptTokens + u.completionTokens };
}

/** Documented extension: where the time went, in OpenAI-like snake case. */
function timingsJson(t: Timings) {
  return {
    queue_ms: round(t.queueMs),
    prompt_ms: round(t.promptMs),
    generation_ms: round(t.generationMs),
    prompt_tokens_per_s: round(t.promptTokensPerS),
    generation_tokens_per_s: round(t.generationTokensPerS),
    ...(t.forwardPasses !== undefined
      ? { forward_passes: t.forwardPasses, tokens_per_pass: round(t.tokensPerPass ?? 0), steps_per_block: round(t.stepsPerBlock ?? 0) }
      : {}),
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function throwEvent(e: JobEvent & { type: "error" }): never {
  throw toApiError(EngineError.fromWire(e.error));
}

export async function respond(
  c: Context,
  client: EngineClient,
  modelId: string,
  job: Job,
  shape: Shape,
  stream: boolean,
  includeUsage: boolean,
): Promise<Response> {
  const id = `${shape.idPrefix}-${crypto.randomUUID().replaceAll("-", "")}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, created, model: modelId };
  const abort = new AbortController();
  c.req.raw.signal?.addEventListener("abort", () => abort.abort(), { once: true });
  const events = client.generate(job, abort.signal)[Symbol.asyncIterator]();

  // Wait for the first event before answering, so a request that fails early (bad prompt, queue full)
  // gets a proper HTTP status instead of an error inside a 200 stream.
  const first = await events.next();
  if (!first.done && first.value.type === "error") throwEvent(first.value);

  if (!stream) {
    let text = "";
    const logprobs: TokenLogprob[] = [];
    let ev: IteratorResult<JobEvent> = first;
    for (; !ev.done; ev = await events.next()) {
      const e = ev.value;
      if (e.type === "text") {
        text += e.text;
        if (e.logprobs) logprobs.push(...e.logprobs);
      } else if (e.type === "error") throwEvent(e);
      else if (e.type === "done") {
        return c.json({
          ...head,
          object: shape.object,
          choices: [shape.choice(text, e.finishReason, job.logprobs === null ? null : logprobs)],
          usage: usageJson(e.usage),
          timings: timingsJson(e.timings),
        });
      }
    }
    throw new ApiError(500, "the generation ended without a result", "server_error");
  }

  return sseResponse(abort, async (send) => {
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      send({ ...head, object: shape.chunkObject, choices, ...extra });
    let opened = false;
    let ev: IteratorResult<JobEvent> = first;
    for (; !ev.done; ev = await events.next()) {
      const e = ev.value;
      if (e.type === "start" && !opened) {
        opened = true;
        chunk([shape.delta("", true, null)]);
      } else if (e.type === "text") {
        if (!opened) {
          opened = true;
          chunk([shape.delta("", true, null)]);
        }
        chunk([shape.delta(e.text, false, e.logprobs ?? null)]);
      } else if (e.type === "error") {
        const err = toApiError(EngineError.fromWire(e.error));
        send(err.toJSON());
        return;
      } else if (e.type === "done") {
        chunk([shape.finish(e.finishReason)], includeUsage ? {} : { timings: timingsJson(e.timings) });
        if (includeUsage) chunk([], { usage: usageJson(e.usage), timings: timingsJson(e.timings) });
        return;
      }
    }
  });
}
