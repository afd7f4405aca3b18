// Seeded choices for the corpus generators (a thin layer over the engine's xoshiro128** Rng, so one
// seed reproduces the whole corpus on any machine), and the small text helpers every generator shares.

import { Rng } from "../../src/generate/rng.ts";

export class Gen {
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.rng.nextFloat();
  }

  /** Uniform integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rng.nextFloat() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.rng.nextFloat() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rng.nextFloat() * items.length)]!;
  }

  /** k distinct items, in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle([...items]).slice(0, k);
  }

  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng.nextFloat() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }

  /** An index drawn in proportion to the weights. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let r = this.rng.nextFloat() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i]!;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}

export const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** "a" or "an" before a word. */
export const an = (w: string): string => (/^[aeiou]/.test(w) ? "an" : "a");

/** "x", "x and y", "x, y and z". */
export function andList(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return items.slice(0, -1).join(", ") + " and " + items[items.length - 1];
}

/** Fills {slots} of a template from a table. */
export function fill(template: string, slots: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = slots[k];
    if (v === undefined) throw new Error(`template slot {${k}} has no value: ${template}`);
    return v;
  });
}
