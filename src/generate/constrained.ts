// Sampling under a JSON constraint: draw from the sampler as usual and, when the drawn token would break
// the document, mask it and draw again (rejection sampling = sampling the masked distribution); after a
// few rejections, take the most likely allowed token by scanning candidates in logit order.
import type { Engine } from "../engine/engine.ts";
import { firstAllowed, jsonConstraint, type Constraint, type ConstraintState, type JsonSchema } from "./json-constraint.ts";
import type { Sampler } from "./sampler.ts";

/** Rejections before the deterministic scan: a trained model's draw is usually allowed at once. */
const MAX_REDRAWS = 3;

const compiled = new Map<string, Constraint>();

/** Compiled constraints are cached by schema text: one compile per distinct schema per worker. */
export function constraintFor(schema: JsonSchema | null): Constraint {
  const key = JSON.stringify(schema);
  let c = compiled.get(key);
  if (!c) {
    c = jsonConstraint(schema);
    if (compiled.size > 256) compiled.clear();
    compiled.set(key, c);
  }
  return c;
}

export class ConstrainedPicker {
  private state: ConstraintState;
  private readonly masked: Float32Array; // (nVocab) scratch copy of the logits row with rejected tokens at −∞
  private byFirst: Int32Array[] | null = null; // (256) token ids grouped by their first byte, built on first need
  private eogs: number[] = [];

  constructor(
    private readonly c: Constraint,
    private readonly engine: Engine,
  ) {
    this.state = c.start();
    this.masked = new Float32Array(engine.info.nVocab);
  }

  /** After the last picked token the document is complete and nothing else may follow. */
  get mustEnd(): boolean {
    return this.c.mustEnd(this.state);
  }

  /** A token that keeps the document valid (an EOG only where it may end); null if none exists. */
  pick(sampler: Sampler, logits: Float32Array, history: readonly number[]): number | null {
    const bytes = (t: number) => this.engine.tokenBytes(t, false);
    const isEog = (t: number) => this.engine.isEog(t);
    let row = logits;
    for (let i = 0; i < MAX_REDRAWS; i++) {
      const t = sampler.sample(row, history);
      const r = firstAllowed(this.c, this.state, [t], bytes, isEog);
      if (r) return this.accept(r);
      if (row === logits) {
        this.masked.set(logits);
        row = this.masked;
      }
      row[t] = -Infinity;
    }
    // Many rejections: the distribution puts its mass on forbidden tokens. Take the best allowed one,
    // searching only tokens whose first byte the constraint accepts here (a few percent of the vocabulary).
    const order = this.candidates(logits);
    const r = firstAllowed(this.c, this.state, order, bytes, isEog);
    return r ? this.accept(r) : null;
  }

  private accept(r: { token: number; state: ConstraintState | null }): number {
    if (r.state !== null) this.state = r.state;
    return r.token;
  }

  /** Tokens that can start here (allowed first byte, or an EOG), by descending logit. */
  private candidates(logits: Float32Array): Int32Array {
    if (!this.byFirst) {
      const groups: number[][] = Array.from({ length: 256 }, () => []);
      for (let t = 0; t < logits.length; t++) {
        if (this.engine.isEog(t)) this.eogs.push(t);
        const b = this.engine.tokenBytes(t, false);
        if (b.length > 0) groups[b[0]].push(t);
      }
      this.byFirst = groups.map((g) => Int32Array.from(g));
    }
    const one = new Uint8Array(1);
    let n = this.eogs.length;
    const ok: Int32Array[] = [];
    for (let b = 0; b < 256; b++) {
      one[0] = b;
      if (this.byFirst[b].length > 0 && this.c.advance(this.state, one) !== null) {
        ok.push(this.byFirst[b]);
        n += this.byFirst[b].length;
      }
    }
    const out = new Int32Array(n);
    let k = 0;
    for (const t of this.eogs) out[k++] = t;
    for (const g of ok) {
      out.set(g, k);
      k += g.length;
    }
    return out.sort((a, b) => logits[b] - logits[a] || a - b);
  }
}
