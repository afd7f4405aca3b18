// Autoregressive generation of one sequence, as a state machine the scheduler drives: it fills its share
// of each batch (a prompt chunk, or the last sampled token) and consumes the logits that come back.
import type { Batch, Engine } from "../engine/engine.ts";
import type { Job, JobEvent } from "../engine/protocol.ts";
import { Output, type Sequence } from "./output.ts";
import { ConstrainedPicker, constraintFor } from "./constrained.ts";
import { Sampler } from "./sampler.ts";

export type { Sequence } from "./output.ts";

export class ArSequence implements Sequence {
  readonly attention = "causal" as const;
  private nPast = 0; // tokens of this sequence in the cache
  private pending = -1; // sampled token not yet in the cache
  private readonly sampler: Sampler;
  private readonly out: Output;
  private readonly picker: ConstrainedPicker | null;
  finished = false;

  constructor(
    engine: Engine,
    readonly slot: number,
    private readonly job: Job,
    private readonly prompt: Int32Array,
    queueMs: number,
  ) {
    this.sampler = new Sampler(job.sampling, engine.info.nVocab);
    this.out = new Output(engine, job, prompt.length, queueMs);
    this.picker = job.constraint ? new ConstrainedPicker(constraintFor(job.constraint.schema), engine) : null;
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
    this.out.promptDone();
    const events: JobEvent[] = [];
    const token = this.picker ? this.picker.pick(this.sampler, logits, this.out.generated) : this.sampler.sample(logits, this.out.generated);
    // A constraint with no allowed continuation cannot happen for a satisfiable schema; end cleanly anyway.
    if (token === null || this.out.isEog(token)) return this.end("stop", events);
    const c = this.out.commit(token, events, this.nPast, this.sampler, logits);
    if (c.kind === "end") return this.end(c.reason, events);
    // The JSON document is complete and nothing may follow: stop as if the model ended it.
    if (this.picker?.mustEnd) return this.end("stop", events);
    this.pending = token;
    return events;
  }

  private end(reason: "stop" | "length", events: JobEvent[]): JobEvent[] {
    this.finished = true;
    return this.out.finish(reason, events);
  }
}
