// The scheduler: a bounded queue of jobs and up to nParallel live sequences that share one decode per step
// (continuous batching). It owns the cache slots; generation logic per sequence lives in src/generate.
import type { AttentionMode, Batch, Engine } from "./engine.ts";
import { EngineError } from "./errors.ts";
import type { Job, JobEvent } from "./protocol.ts";
import { ArSequence } from "../generate/ar.ts";
import { DlmSequence } from "../generate/dlm.ts";
import type { Sequence } from "../generate/output.ts";

export interface SchedulerOptions {
  nParallel: number;
  queueLimit: number;
  queueTimeoutMs: number;
}

interface Queued {
  id: number;
  job: Job;
  prompt: Int32Array;
  queuedAt: number;
}

export type Emit = (id: number, event: JobEvent) => void;

export class Scheduler {
  private readonly queue: Queued[] = [];
  private readonly live = new Map<number, Sequence>(); // job id → sequence
  private readonly freeSlots: number[] = [];
  private readonly batch: Batch;

  constructor(
    private readonly engine: Engine,
    private readonly opts: SchedulerOptions,
    private readonly emit: Emit,
  ) {
    const n = engine.info.nBatch;
    this.batch = {
      n: 0,
      tokens: new Int32Array(n), // (nBatch)
      positions: new Int32Array(n), // (nBatch)
      seqIds: new Int32Array(n), // (nBatch)
      wantLogits: new Uint8Array(n), // (nBatch)
    };
    const slots = Math.min(opts.nParallel, engine.info.nSeqMax);
    for (let s = slots - 1; s >= 0; s--) this.freeSlots.push(s);
  }

  get queued(): number {
    return this.queue.length;
  }
  get active(): number {
    return this.live.size;
  }
  get idle(): boolean {
    return this.queue.length === 0 && this.live.size === 0;
  }

  /** Tokenizes and queues a job; throws EngineError when it can never run or the queue is full. */
  submit(id: number, job: Job): void {
    const prompt =
      "tokens" in job.prompt
        ? Int32Array.from(job.prompt.tokens)
        : this.engine.tokenize(job.prompt.text, { addSpecial: job.prompt.addSpecial, parseSpecial: job.prompt.parseSpecial });
    const { nCtx, nVocab } = this.engine.info;
    if (prompt.length === 0) throw new EngineError("invalid_request", "the prompt is empty (no tokens)", "prompt");
    for (const t of prompt) {
      if (t < 0 || t >= nVocab) throw new EngineError("invalid_request", `token id ${t} is outside the vocabulary (0..${nVocab - 1})`, "prompt");
    }
    if (prompt.length >= nCtx) {
      throw new EngineError(
        "context_length_exceeded",
        `the prompt has ${prompt.length} tokens but the context holds ${nCtx} (at least one must be left to generate)`,
        "messages",
      );
    }
    if (this.queue.length >= this.opts.queueLimit && this.freeSlots.length === 0) {
      throw new EngineError("overloaded", `the queue is full (${this.opts.queueLimit} waiting); retry later`, null, 1);
    }
    this.queue.push({ id, job, prompt, queuedAt: performance.now() });
  }

  /** Stops a job at the next step, frees its sequence and reports it as cancelled. */
  cancel(id: number): void {
    const qi = this.queue.findIndex((q) => q.id === id);
    if (qi >= 0) {
      this.queue.splice(qi, 1);
      return;
    }
    const seq = this.live.get(id);
    if (seq) this.retire(id, seq);
  }

  /** Fails every queued and live job (shutdown). */
  abortAll(reason: EngineError): void {
    for (const q of this.queue.splice(0)) this.emit(q.id, { type: "error", error: reason.toWire() });
    for (const [id, seq] of this.live) {
      this.emit(id, { type: "error", error: reason.toWire() });
      this.retire(id, seq);
    }
  }

  /**
   * One scheduling round: admit, then one decode per attention mode in use (causal sequences, then
   * block-diffusion passes), each built from every live sequence that wants that mode.
   */
  step(): void {
    this.expireQueue();
    this.admit();
    if (this.live.size === 0) return;
    // Sequences already generating go first (one token or one window each): they keep their latency
    // while prompts prefill in the room that is left.
    const order = [...this.live].sort((a, c) => Number(a[1].prefilling) - Number(c[1].prefilling));
    for (const mode of ["causal", "block"] as const) {
      const group = order.filter(([, s]) => s.attention === mode && !s.finished);
      if (group.length > 0) this.decodeGroup(group, mode);
    }
  }

  private decodeGroup(group: [number, Sequence][], mode: AttentionMode): void {
    const b = this.batch;
    b.n = 0;
    const parts: { id: number; seq: Sequence; start: number; n: number }[] = [];
    for (const [id, seq] of group) {
      const room = b.tokens.length - b.n;
      if (room <= 0) break;
      const start = b.n;
      const n = seq.fill(b, room);
      if (n > 0) parts.push({ id, seq, start, n });
    }
    if (b.n === 0) return;

    let logits: Float32Array;
    try {
      logits = this.engine.decode(b, mode);
    } catch (e) {
      const err = new EngineError("internal", `decode failed: ${e instanceof Error ? e.message : String(e)}`);
      for (const p of parts) {
        this.emit(p.id, { type: "error", error: err.toWire() });
        this.retire(p.id, p.seq);
      }
      return;
    }

    const nVocab = this.engine.info.nVocab;
    let row = 0;
    for (const p of parts) {
      let rows = 0;
      for (let i = p.start; i < p.start + p.n; i++) rows += b.wantLogits[i];
      const mine = logits.subarray(row * nVocab, (row + rows) * nVocab);
      row += rows;
      const events = p.seq.consume(mine, rows);
      for (const ev of events) this.emit(p.id, ev);
      if (p.seq.finished) this.retire(p.id, p.seq);
    }
  }

  private expireQueue(): void {
    const now = performance.now();
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const q = this.queue[i];
      if (now - q.queuedAt > this.opts.queueTimeoutMs) {
        this.queue.splice(i, 1);
        const err = new EngineError("queue_timeout", `waited ${Math.round(now - q.queuedAt)} ms in the queue without a free sequence`, null, 1);
        this.emit(q.id, { type: "error", error: err.toWire() });
      }
    }
  }

  private admit(): void {
    while (this.freeSlots.length > 0 && this.queue.length > 0) {
      const q = this.queue.shift()!;
      const slot = this.freeSlots.pop()!;
      this.engine.kvClear(slot);
      const waited = performance.now() - q.queuedAt;
      const seq = q.job.dlm
        ? new DlmSequence(this.engine, slot, q.job, q.prompt, waited)
        : new ArSequence(this.engine, slot, q.job, q.prompt, waited);
      this.live.set(q.id, seq);
      this.emit(q.id, { type: "start", promptTokens: q.prompt.length });
    }
  }

  private retire(id: number, seq: Sequence): void {
    this.live.delete(id);
    this.engine.kvClear(seq.slot);
    this.freeSlots.push(seq.slot);
  }
}
