// Turns validated requests into Jobs and the jobs' events into an OpenAI response: one JSON body, or an
// SSE stream of chunks. Shared by chat and completions, which differ only in the object shapes; `n`
// choices are n jobs whose events are merged by choice index.
import type { Context } from "hono";
import type { EngineClient } from "../engine/engine-host.ts";
import { EngineError } from "../engine/errors.ts";
import type { FinishReason, Job, JobEvent, Timings, TokenLogprob, Usage } from "../engine/protocol.ts";
import type { DlmConfig } from "../generate/dlm-config.ts";
import { defaultSampling, type SamplingParams } from "../generate/sampler.ts";
import { ApiError, toApiError } from "./errors.ts";
import type { Metrics } from "./metrics.ts";
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

/**
 * `n` jobs for one request. With a seed, choice i uses seed + i, so choices differ from each other yet
 * the whole response is reproducible.
 */
export function choicesOf(job: Job, n: number): Job[] {
  return Array.from({ length: n }, (_, i) =>
    i === 0 || job.sampling.seed === null ? job : { ...job, sampling: { ...job.sampling, seed: job.sampling.seed + i } },
  );
}

/** The pieces that differ between chat and completions. */
export interface Shape {
  object: string;
  chunkObject: string;
  idPrefix: string;
  /** A choice of the final (non-streamed) response. */
  choice(index: number, text: string, finish: FinishReason, logprobs: TokenLogprob[] | null): Record<string, unknown>;
  /** A streamed choice delta; `first` is the opening chunk (chat sends the role there). */
  delta(index: number, text: string, first: boolean, logprobs: TokenLogprob[] | null): Record<string, unknown>;
  /** The streamed closing choice, carrying the finish reason. */
  finish(index: number, finish: FinishReason): Record<string, unknown>;
  /** Optional: turns streamed text into choice deltas itself (tool calls); default one `delta`. */
  deltas?(index: number, text: string): Record<string, unknown>[];
  /** Optional: the closing choices (flushes what `deltas` held back); default one `finish`. */
  closing?(index: number, finish: FinishReason): Record<string, unknown>[];
}

function usageJson(u: Usage) {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.promptTokens + u.completionTokens };
}

/** Documented extension: where the time went. */
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

type Done = Extract<JobEvent, { type: "done" }>;

/** Per-request latency bookkeeping for /metrics. */
class Clock {
  private readonly t0 = performance.now();
  private last = 0;
  constructor(private readonly m: Metrics | null) {}
  text(e: Extract<JobEvent, { type: "text" }>): void {
    if (!this.m || e.tokens === 0) return;
    const now = performance.now();
    if (this.last === 0) this.m.ttft.observe((now - this.t0) / 1000);
    else this.m.itl.observe((now - this.last) / 1000 / e.tokens, e.tokens);
    this.last = now;
    this.m.tokens(e.tokens);
  }
  done(e: Done, countPrompt: boolean): void {
    if (!this.m) return;
    this.m.finished.inc({ reason: e.finishReason });
    if (countPrompt) this.m.promptTokens.inc({}, e.usage.promptTokens);
    if (e.timings.tokensPerPass !== undefined) this.m.dlmTokensPerPass.observe(e.timings.tokensPerPass);
  }
}

export interface RespondOptions {
  client: EngineClient;
  modelId: string;
  metrics: Metrics | null;
  shape: Shape;
  stream: boolean;
  includeUsage: boolean;
}

export async function respond(c: Context, jobs: Job[], o: RespondOptions): Promise<Response> {
  const { shape } = o;
  const id = `${shape.idPrefix}-${crypto.randomUUID().replaceAll("-", "")}`;
  const head = { id, created: Math.floor(Date.now() / 1000), model: o.modelId };
  const abort = new AbortController();
  c.req.raw.signal?.addEventListener("abort", () => abort.abort(), { once: true });
  const iters = jobs.map((j) => o.client.generate(j, abort.signal)[Symbol.asyncIterator]());

  // Wait for each choice's first event before answering, so a request that fails early (bad prompt,
  // full queue) gets a proper HTTP status instead of an error inside a 200 stream.
  const firsts = await Promise.all(iters.map((it) => it.next()));
  for (const f of firsts) {
    if (!f.done && f.value.type === "error") {
      abort.abort();
      throw toApiError(EngineError.fromWire(f.value.error));
    }
  }
  const clocks = jobs.map(() => new Clock(o.metrics));

  if (!o.stream) {
    const results = await Promise.all(
      iters.map(async (it, i) => {
        let text = "";
        const logprobs: TokenLogprob[] = [];
        for (let ev = firsts[i]; !ev.done; ev = await it.next()) {
          const e = ev.value;
          if (e.type === "text") {
            clocks[i].text(e);
            text += e.text;
            if (e.logprobs) logprobs.push(...e.logprobs);
          } else if (e.type === "error") throw toApiError(EngineError.fromWire(e.error));
          else if (e.type === "done") {
            clocks[i].done(e, i === 0);
            return { text, logprobs, done: e };
          }
        }
        throw new ApiError(500, "the generation ended without a result", "server_error");
      }),
    );
    const usage = {
      promptTokens: results[0].done.usage.promptTokens,
      completionTokens: results.reduce((a, r) => a + r.done.usage.completionTokens, 0),
    };
    return c.json({
      ...head,
      object: shape.object,
      choices: results.map((r, i) => shape.choice(i, r.text, r.done.finishReason, jobs[i].logprobs === null ? null : r.logprobs)),
      usage: usageJson(usage),
      timings: timingsJson(results[0].done.timings),
    });
  }

  return sseResponse(abort, async (send) => {
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => send({ ...head, object: shape.chunkObject, choices, ...extra });
    for (let i = 0; i < jobs.length; i++) chunk([shape.delta(i, "", true, null)]);
    const dones: (Done | null)[] = jobs.map(() => null);
    // Merge the choices' event streams: each pump forwards its events as they come.
    await Promise.all(
      iters.map(async (it, i) => {
        for (let ev = firsts[i]; !ev.done; ev = await it.next()) {
          const e = ev.value;
          if (e.type === "text") {
            clocks[i].text(e);
            if (shape.deltas) for (const d of shape.deltas(i, e.text)) chunk([d]);
            else chunk([shape.delta(i, e.text, false, e.logprobs ?? null)]);
          } else if (e.type === "block") {
            // Extension: a resolved diffusion sub-block, for viewers; OpenAI clients skip empty choices.
            chunk([], { dlm_block: { choice: i, block: e.block, steps: e.steps, pieces: e.pieces } });
          } else if (e.type === "error") {
            send(toApiError(EngineError.fromWire(e.error)).toJSON());
            abort.abort();
            return;
          } else if (e.type === "done") {
            clocks[i].done(e, i === 0);
            dones[i] = e;
            const closing = shape.closing ? shape.closing(i, e.finishReason) : [shape.finish(i, e.finishReason)];
            closing.forEach((cl, k) =>
              chunk([cl], k < closing.length - 1 || o.includeUsage || jobs.length > 1 ? {} : { timings: timingsJson(e.timings) }),
            );
            return;
          }
        }
      }),
    );
    if (o.includeUsage && dones.every((d) => d !== null)) {
      const usage = {
        promptTokens: dones[0]!.usage.promptTokens,
        completionTokens: dones.reduce((a, d) => a + d!.usage.completionTokens, 0),
      };
      chunk([], { usage: usageJson(usage), timings: timingsJson(dones[0]!.timings) });
    }
  });
}
