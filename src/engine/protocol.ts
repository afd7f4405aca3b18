// What crosses between the HTTP thread and the engine worker: jobs, their events, and the messages
// that carry them. Plain data only (structured clone), so both sides share these types and nothing else.
import type { AttentionMode, ModelInfo } from "./engine.ts";
import type { WireError } from "./errors.ts";
import type { SamplingParams } from "../generate/sampler.ts";

export interface DlmOptions {
  /** Token id that stands for "not decided yet" (the model's mask token). */
  maskToken: number;
  blockSize: number;
  subBlockSize: number;
  threshold: number;
  confidence: "prob" | "margin";
  mode: "greedy" | "iterative" | "adaptive";
  maxStepsPerBlock: number;
  attention: AttentionMode;
  /** Block attention: also decode the rest of the current block as masks after the sub-block (the
   * training layout). Off: only the sub-block, a shorter and cheaper pass. */
  lookahead: boolean;
}

/** One generation: a prompt and how to continue it. */
export interface Job {
  /** Text to tokenize in the worker (chat already rendered), or token ids. */
  prompt: { text: string; addSpecial: boolean; parseSpecial: boolean } | { tokens: number[] };
  maxTokens: number;
  stop: string[];
  sampling: SamplingParams;
  /** Return top-N log-probabilities per generated token (0: none, null: no logprobs at all). */
  logprobs: number | null;
  /** Block diffusion instead of plain autoregressive decoding. */
  dlm: DlmOptions | null;
  /** Let the generation run to max_tokens even after an end-of-generation token (testing, benchmarks). */
  ignoreEos: boolean;
  /** Constrained decoding: the output is JSON valid under `schema` (null schema: any JSON object). */
  constraint?: { schema: Record<string, unknown> | boolean | null } | null;
}

export interface TokenLogprob {
  token: string;
  bytes: number[];
  logprob: number;
  topLogprobs: { token: string; bytes: number[]; logprob: number }[];
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export interface Timings {
  queueMs: number;
  promptMs: number;
  generationMs: number;
  promptTokensPerS: number;
  generationTokensPerS: number;
  /** Block diffusion only: forward passes spent on generated tokens, and tokens committed per pass. */
  forwardPasses?: number;
  tokensPerPass?: number;
  stepsPerBlock?: number;
}

export type FinishReason = "stop" | "length";

export type JobEvent =
  | { type: "start"; promptTokens: number }
  | { type: "text"; text: string; tokens: number; logprobs?: TokenLogprob[] }
  /** Block diffusion: one resolved sub-block, each token with the step (within it) that committed it. */
  | { type: "block"; block: number; steps: number; pieces: { text: string; step: number }[] }
  | { type: "done"; finishReason: FinishReason; usage: Usage; timings: Timings }
  | { type: "error"; error: WireError };

export interface WorkerConfig {
  engine: "native" | "llama";
  model: string;
  nCtx: number;
  nBatch: number;
  nParallel: number;
  threads: number;
  queueLimit: number;
  queueTimeoutMs: number;
}

export type ToWorker =
  | { op: "init"; config: WorkerConfig }
  | { op: "submit"; id: number; job: Job }
  | { op: "cancel"; id: number }
  | { op: "tokenize"; id: number; text: string; addSpecial: boolean; parseSpecial: boolean }
  | { op: "detokenize"; id: number; tokens: number[] }
  | { op: "shutdown" };

export type FromWorker =
  | { op: "ready"; info: ModelInfo }
  | { op: "init-error"; error: WireError }
  | { op: "event"; id: number; event: JobEvent }
  | { op: "reply"; id: number; value: unknown; error?: WireError }
  | { op: "stats"; queued: number; active: number };
