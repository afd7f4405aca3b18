// Block-diffusion (Fast-dLLM v2 style) generation of one sequence: each sub-block starts as mask tokens
// and is resolved in as few forward passes as the confidence threshold allows, then decoded once more
// with its real tokens (causal) so the cache never keeps keys computed from masks.
//
// Positions and token shift. The cache holds the committed prefix [0, nPast). `nextRow` is the logits
// row of position nPast−1 from a causal pass: the prediction for position nPast, which never changes
// while the sub-block resolves (its context is final). A block pass decodes the window
// [nPast, nPast+W) (+ lookahead masks up to the end of the block with `block` attention); its row i
// predicts position nPast+i+1. After each block pass its entries are removed from the cache again.
import type { AttentionMode, Batch, Engine } from "../engine/engine.ts";
import type { DlmOptions, Job, JobEvent } from "../engine/protocol.ts";
import { Output, type Sequence } from "./output.ts";
import { Sampler, softmaxConfidence } from "./sampler.ts";

type Phase = "prefill" | "block" | "commit";

export class DlmSequence implements Sequence {
  private phase: Phase = "prefill";
  private nPast = 0; // committed tokens in the cache
  private readonly nextRow: Float32Array; // (nVocab) prediction for position nPast
  private readonly win: Int32Array; // (subBlockSize) the current sub-block: mask or committed token
  private readonly done: Uint8Array; // (subBlockSize) 1 where win[i] is committed
  private readonly stepOf: Int32Array; // (subBlockSize) the step that committed win[i] (statistics, UI)
  private w = 0; // sub-block length
  private look = 0; // lookahead masks after the sub-block (block attention only)
  private blockFill = 0; // tokens of the current block committed in earlier sub-blocks
  private steps = 0; // steps spent on the current sub-block
  private rowOf: number[] = []; // window index each wanted row of the last block pass predicts
  private readonly sampler: Sampler;
  private readonly out: Output;
  private readonly o: DlmOptions;
  private passes = 0;
  private subBlocks = 0;
  private totalSteps = 0;
  private eogSeen = false; // an end-of-generation token closed the current sub-block
  finished = false;

  constructor(
    private readonly engine: Engine,
    readonly slot: number,
    job: Job,
    private readonly prompt: Int32Array,
    queueMs: number,
  ) {
    if (!job.dlm) throw new Error("DlmSequence needs job.dlm");
    this.o = job.dlm;
    const V = engine.info.nVocab;
    this.nextRow = new Float32Array(V);
    const S = this.o.subBlockSize;
    this.win = new Int32Array(S);
    this.done = new Uint8Array(S);
    this.stepOf = new Int32Array(S);
    this.sampler = new Sampler(job.sampling, V);
    this.out = new Output(engine, job, prompt.length, queueMs);
  }

  get prefilling(): boolean {
    return this.phase === "prefill";
  }

  /** Tokens committed so far, in order. */
  get generated(): readonly number[] {
    return this.out.generated;
  }

  get attention(): AttentionMode {
    return this.phase === "block" ? this.o.attention : "causal";
  }

  // ───────────────────────────── batch filling ─────────────────────────────

  fill(b: Batch, room: number): number {
    if (this.finished) return 0;
    if (this.phase === "prefill") {
      const n = Math.min(room, this.prompt.length - this.nPast);
      for (let i = 0; i < n; i++) {
        const p = this.nPast + i;
        put(b, this.prompt[p], p, this.slot, p === this.prompt.length - 1);
      }
      this.nPast += n;
      return n;
    }
    if (this.phase === "commit") {
      if (this.w > room) return 0; // wait for a step with room: a sub-block is committed whole
      for (let i = 0; i < this.w; i++) put(b, this.win[i], this.nPast + i, this.slot, i === this.w - 1);
      return this.w;
    }
    // Block pass: the window and its lookahead go into one decode (they attend to each other).
    const n = this.w + this.look;
    if (n > room) return 0;
    this.rowOf = [];
    for (let i = 0; i < n; i++) {
      // Row i predicts window position i + 1: wanted only while that position is still open.
      const want = i + 1 < this.w && !this.done[i + 1];
      if (want) this.rowOf.push(i + 1);
      put(b, i < this.w ? this.win[i] : this.o.maskToken, this.nPast + i, this.slot, want);
    }
    return n;
  }

  // ───────────────────────────── logits ─────────────────────────────

  consume(logits: Float32Array, rows: number): JobEvent[] {
    const V = this.engine.info.nVocab;
    const events: JobEvent[] = [];
    if (this.phase === "prefill") {
      if (rows === 0) return events; // a prompt chunk that did not reach the end
      this.out.promptDone();
      this.nextRow.set(logits.subarray(0, V));
      return this.startSubBlock(events);
    }
    this.passes++;
    if (this.phase === "commit") {
      this.nextRow.set(logits.subarray(0, V));
      this.nPast += this.w;
      this.blockFill = (this.blockFill + this.w) % this.o.blockSize;
      return this.startSubBlock(events);
    }
    // A block pass: its cache entries held keys of masks; drop them before anything else decodes.
    this.engine.kvRemove(this.slot, this.nPast, -1);
    const row = (i: number): Float32Array => {
      if (i === 0) return this.nextRow;
      const r = this.rowOf.indexOf(i);
      return logits.subarray(r * V, (r + 1) * V);
    };
    this.decide(row);
    return this.afterStep(events);
  }

  /** One unmasking step over the open positions, given each position's prediction row. */
  private decide(row: (i: number) => Float32Array): void {
    const V = this.engine.info.nVocab;
    const open: { i: number; conf: number }[] = [];
    for (let i = 0; i < this.w; i++) {
      if (this.done[i]) continue;
      const c = softmaxConfidence(row(i), V);
      open.push({ i, conf: this.o.confidence === "prob" ? c.prob : c.margin });
    }
    const t = this.threshold();
    let chosen = this.o.mode === "greedy" || this.steps + 1 >= this.o.maxStepsPerBlock ? open : open.filter((p) => p.conf > t);
    if (chosen.length === 0) chosen = [open.reduce((a, b) => (b.conf > a.conf ? b : a))];
    for (const { i } of chosen) {
      this.win[i] = this.sampler.sample(row(i), this.out.generated);
      this.done[i] = 1;
      this.stepOf[i] = this.steps;
    }
    this.steps++;
    this.totalSteps++;
    // An end-of-generation token ends the sub-block there: later positions are dropped.
    for (let i = 0; i < this.w; i++) {
      if (this.done[i] && this.out.isEog(this.win[i])) {
        this.w = i;
        this.look = 0;
        this.eogSeen = true;
        break;
      }
    }
  }

  /** θ for this step: `adaptive` relaxes it in the first two steps of a sub-block. */
  private threshold(): number {
    const t = this.o.threshold;
    if (this.o.mode !== "adaptive") return t;
    if (this.steps === 0) return Math.max(0.5, t - 0.4);
    if (this.steps === 1) return Math.max(0.7, t - 0.2);
    return t;
  }

  /** After a step: resolve what needs no pass, emit a finished sub-block, or go on. */
  private afterStep(events: JobEvent[]): JobEvent[] {
    for (;;) {
      let open = 0;
      for (let i = 0; i < this.w; i++) open += this.done[i] ? 0 : 1;
      if (open === 0) return this.subBlockResolved(events);
      // Only position 0 open: its prediction is nextRow, no forward pass needed.
      if (open === 1 && !this.done[0]) {
        this.decide(() => this.nextRow);
        continue;
      }
      this.phase = "block";
      return events;
    }
  }

  private startSubBlock(events: JobEvent[]): JobEvent[] {
    const { blockSize, subBlockSize } = this.o;
    const nBatch = this.engine.info.nBatch;
    this.w = Math.min(subBlockSize, blockSize - this.blockFill, this.out.room(this.nPast), nBatch);
    if (this.w === 0) return this.end("length", events);
    const rest = blockSize - this.blockFill - this.w; // masks of this block after the sub-block
    this.look = this.o.attention === "block" && this.o.lookahead ? Math.max(0, Math.min(rest, this.engine.info.nCtx - this.nPast - this.w, nBatch - this.w)) : 0;
    this.win.fill(this.o.maskToken);
    this.done.fill(0);
    this.steps = 0;
    this.subBlocks++;
    return this.afterStep(events);
  }

  /** Every position of the sub-block is decided: stream it, then commit its real tokens to the cache. */
  private subBlockResolved(events: JobEvent[]): JobEvent[] {
    // For viewers (the chat page): which step committed which token. Text per token is approximate at
    // UTF-8 boundaries; the text events below are exact.
    const dec = new TextDecoder();
    events.push({
      type: "block",
      block: this.subBlocks - 1,
      steps: this.steps,
      pieces: Array.from(this.win.subarray(0, this.w), (t, i) => ({ text: dec.decode(this.engine.tokenBytes(t, false)), step: this.stepOf[i] })),
    });
    for (let i = 0; i < this.w; i++) {
      const c = this.out.commit(this.win[i], events, this.nPast + i, this.sampler, null);
      if (c.kind === "end") return this.end(c.reason, events);
    }
    if (this.eogSeen) return this.end("stop", events);
    this.phase = "commit";
    return events;
  }

  private end(reason: "stop" | "length", events: JobEvent[]): JobEvent[] {
    this.finished = true;
    const n = this.out.generated.length;
    this.out.extra = {
      forwardPasses: this.passes,
      tokensPerPass: this.passes > 0 ? n / this.passes : n,
      stepsPerBlock: this.subBlocks > 0 ? this.totalSteps / this.subBlocks : 0,
    };
    return this.out.finish(reason, events);
  }
}

function put(b: Batch, token: number, pos: number, seq: number, want: boolean): void {
  const k = b.n++;
  b.tokens[k] = token;
  b.positions[k] = pos;
  b.seqIds[k] = seq;
  b.wantLogits[k] = want ? 1 : 0;
}
