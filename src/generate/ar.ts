// Autoregressive generation of one sequence, as a state machine the scheduler drives: it fills its share
// of each batch (a prompt chunk, or the last sampled token) and consumes the logits that come back.
import type { Batch, Engine } from "../engine/engine.ts";
import type { FinishReason, Job, JobEvent, TokenLogprob } from "../engine/protocol.ts";
import { Sampler } from "./sampler.ts";
import { TextStream } from "./text-stream.ts";

/** What the scheduler needs from any kind of sequence (autoregressive or block diffusion). */
export interface Sequence {
  /** Cache slot (sequence id inside the engine). */
  readonly slot: number;
  /** True while the prompt is still being fed: such sequences yield batch room to generating ones. */
  readonly prefilling: boolean;
  readonly finished: boolean;
  /** Appends this sequence's tokens for the next decode; returns how many it added (≤ room). */
  fill(batch: Batch, room: number): number;
  /** Takes the logits of the rows this sequence asked for (rows × nVocab) and returns its events. */
  consume(logits: Float32Array, rows: number): JobEvent[];
}

export class ArSequence implements Sequence {
  private nPast = 0; // tokens of this sequence in the cache
  private pending = -1; // sampled token not yet in the cache
  private readonly generated: number[] = [];
  private readonly sampler: Sampler;
  private readonly text: TextStream;
  private readonly t0 = performance.now();
  private tPrompt = 0;
  finished = false;

  constructor(
    private readonly engine: Engine,
    readonly slot: number,
    private readonly job: Job,
    private readonly prompt: Int32Array,
    private readonly queueMs: number,
  ) {
    this.sampler = new Sampler(job.sampling, engine.info.nVocab);
    this.text = new TextStream(job.stop);
  }

  get prefilling(): boolean {
    return this.nPast < this.prompt.length;
  }

  fill(b: Batch, room: number): number {
    if (this.finished) return 0;
    if (this.prefilling) {
      const n = Math.min(room, this.prompt.length - this.nPast);
      for (let i = 0; i < n; i++) {
        const k = b.n + i;
        b.tokens[k] = this.prompt[this.nPast + i];
        b.positions[k] = this.nPast + i;
        b.seqIds[k] = this.slot;
        b.wantLogits[k] = this.nPast + i === this.prompt.length - 1 ? 1 : 0;
      }
      b.n += n;
      this.nPast += n;
      return n;
    }
    const k = b.n++;
    b.tokens[k] = this.pending;
    b.positions[k] = this.nPast++;
    b.seqIds[k] = this.slot;
    b.wantLogits[k] = 1;
    return 1;
  }

  consume(logits: Float32Array, rows: number): JobEvent[] {
    if (rows === 0) return []; // a prompt chunk that did not reach the end
    if (this.tPrompt === 0) this.tPrompt = performance.now();
    const token = this.sampler.sample(logits, this.generated);
    const events: JobEvent[] = [];

    if (this.engine.isEog(token) && !this.job.ignoreEos) return this.finish("stop", events);

    this.generated.push(token);
    const { text, stopped } = this.text.push(this.engine.tokenBytes(token, false));
    const logprobs = this.job.logprobs === null ? undefined : [this.logprob(logits, token)];
    if (text.length > 0 || logprobs) events.push({ type: "text", text, tokens: 1, logprobs });
    if (stopped) return this.finish("stop", events, false);
    if (this.generated.length >= this.job.maxTokens) return this.finish("length", events);
    if (this.nPast + 1 >= this.engine.info.nCtx) return this.finish("length", events);
    this.pending = token;
    return events;
  }

  private logprob(logits: Float32Array, token: number): TokenLogprob {
    const piece = (t: number) => {
      const bytes = this.engine.tokenBytes(t, true);
      return { token: new TextDecoder().decode(bytes), bytes: Array.from(bytes) };
    };
    const top = this.job.logprobs ? this.sampler.topLogprobs(logits, this.job.logprobs) : [];
    return {
      ...piece(token),
      logprob: this.sampler.logprobOf(logits, token),
      topLogprobs: top.map((t) => ({ ...piece(t.token), logprob: t.logprob })),
    };
  }

  private finish(reason: FinishReason, events: JobEvent[], flush = true): JobEvent[] {
    this.finished = true;
    if (flush) {
      const rest = this.text.flush();
      if (rest.length > 0) events.push({ type: "text", text: rest, tokens: 0 });
    }
    const now = performance.now();
    const promptMs = this.tPrompt - this.t0;
    const genMs = now - this.tPrompt;
    const n = this.generated.length;
    events.push({
      type: "done",
      finishReason: reason,
      usage: { promptTokens: this.prompt.length, completionTokens: n },
      timings: {
        queueMs: this.queueMs,
        promptMs,
        generationMs: genMs,
        promptTokensPerS: promptMs > 0 ? (this.prompt.length * 1000) / promptMs : 0,
        // The first token comes out of the prompt pass; the rest cost one decode each.
        generationTokensPerS: genMs > 0 && n > 1 ? ((n - 1) * 1000) / genMs : 0,
      },
    });
    return events;
  }
}
