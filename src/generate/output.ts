// What every kind of sequence does with the tokens it commits: text through stop strings, limits,
// logprobs, and the closing `done` event with usage and timings. Shared by AR and block diffusion.
import type { Engine } from "../engine/engine.ts";
import type { FinishReason, Job, JobEvent, Timings, TokenLogprob } from "../engine/protocol.ts";
import type { Sampler } from "./sampler.ts";
import { TextStream } from "./text-stream.ts";

/** What the scheduler needs from any kind of sequence (autoregressive or block diffusion). */
export interface Sequence {
  /** Cache slot (sequence id inside the engine). */
  readonly slot: number;
  /** True while the prompt is still being fed: such sequences yield batch room to generating ones. */
  readonly prefilling: boolean;
  readonly finished: boolean;
  /** Attention the next `fill` needs; sequences needing different modes go into separate decodes. */
  readonly attention: "causal" | "block";
  /** Appends this sequence's tokens for the next decode; returns how many it added (≤ room). */
  fill(batch: import("../engine/engine.ts").Batch, room: number): number;
  /** Takes the logits of the rows this sequence asked for (rows × nVocab) and returns its events. */
  consume(logits: Float32Array, rows: number): JobEvent[];
}

export type Commit = { kind: "more" } | { kind: "end"; reason: FinishReason };

/**
 * Turns committed tokens into events. `commit` returns whether generation must end (EOG, a stop
 * string, max_tokens or a full context); the caller then calls `finish`.
 */
export class Output {
  readonly generated: number[] = [];
  private readonly text: TextStream;
  private readonly t0 = performance.now();
  private tPrompt = 0;
  /** Extra timing fields (block diffusion statistics). */
  extra: Partial<Timings> = {};

  constructor(
    private readonly engine: Engine,
    private readonly job: Job,
    private readonly promptTokens: number,
    private readonly queueMs: number,
  ) {
    this.text = new TextStream(job.stop);
  }

  /** Marks the end of prompt processing (the first generated token's logits exist). */
  promptDone(): void {
    if (this.tPrompt === 0) this.tPrompt = performance.now();
  }

  /** Room left before max_tokens or the end of the context, given the tokens now in the cache. */
  room(cached: number): number {
    return Math.max(0, Math.min(this.job.maxTokens - this.generated.length, this.engine.info.nCtx - cached));
  }

  isEog(token: number): boolean {
    return this.engine.isEog(token) && !this.job.ignoreEos;
  }

  /**
   * Commits one token (never an EOG: callers end before it). `logits` is the row it was drawn from,
   * for logprobs. Pushes text events into `events`.
   */
  commit(token: number, events: JobEvent[], cached: number, sampler: Sampler, logits: Float32Array | null): Commit {
    this.generated.push(token);
    const { text, stopped } = this.text.push(this.engine.tokenBytes(token, false));
    const logprobs = this.job.logprobs !== null && logits ? [this.logprob(sampler, logits, token)] : undefined;
    if (text.length > 0 || logprobs) events.push({ type: "text", text, tokens: 1, logprobs });
    if (stopped) return { kind: "end", reason: "stop" };
    if (this.generated.length >= this.job.maxTokens) return { kind: "end", reason: "length" };
    if (cached + 1 >= this.engine.info.nCtx) return { kind: "end", reason: "length" };
    return { kind: "more" };
  }

  private logprob(sampler: Sampler, logits: Float32Array, token: number): TokenLogprob {
    const piece = (t: number) => {
      const bytes = this.engine.tokenBytes(t, true);
      return { token: new TextDecoder().decode(bytes), bytes: Array.from(bytes) };
    };
    const top = this.job.logprobs ? sampler.topLogprobs(logits, this.job.logprobs) : [];
    return {
      ...piece(token),
      logprob: sampler.logprobOf(logits, token),
      topLogprobs: top.map((t) => ({ ...piece(t.token), logprob: t.logprob })),
    };
  }

  /** The closing events: held-back text (unless a stop string ended it) and `done`. */
  finish(reason: FinishReason, events: JobEvent[]): JobEvent[] {
    if (!this.text.stopped) {
      const rest = this.text.flush();
      if (rest.length > 0) events.push({ type: "text", text: rest, tokens: 0 });
    }
    const now = performance.now();
    const tPrompt = this.tPrompt || now;
    const promptMs = tPrompt - this.t0;
    const genMs = now - tPrompt;
    const n = this.generated.length;
    events.push({
      type: "done",
      finishReason: reason,
      usage: { promptTokens: this.promptTokens, completionTokens: n },
      timings: {
        queueMs: this.queueMs,
        promptMs,
        generationMs: genMs,
        promptTokensPerS: promptMs > 0 ? (this.promptTokens * 1000) / promptMs : 0,
        // The first token comes out of the prompt pass; the rest cost the generation time.
        generationTokensPerS: genMs > 0 && n > 1 ? ((n - 1) * 1000) / genMs : 0,
        ...this.extra,
      },
    });
    return events;
  }
}
