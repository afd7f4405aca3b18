// expNeg against Math.exp: relative error over the range sampling uses, and the edge values.

import { expect, test } from "bun:test";
import { expNeg } from "./fast-exp.ts";
import { Rng } from "./rng.ts";

test("within 3e-9 relative of Math.exp on [−700, 0]", () => {
  const rng = new Rng(1);
  let worst = 0;
  for (let i = 0; i < 200_000; i++) {
    const x = i < 100_000 ? -rng.nextFloat() * 40 : -rng.nextFloat() * 700;
    worst = Math.max(worst, Math.abs(expNeg(x) / Math.exp(x) - 1));
  }
  expect(worst).toBeLessThan(3e-9);
});

test("edges: exp(0) = 1 exactly, octave joints, underflow, −∞ and NaN", () => {
  expect(expNeg(0)).toBe(1);
  expect(expNeg(-0)).toBe(1);
  expect(expNeg(-Math.LN2)).toBeCloseTo(0.5, 15);
  expect(expNeg(-800)).toBe(0);
  expect(expNeg(-Infinity)).toBe(0);
  expect(expNeg(NaN)).toBe(0);
});
