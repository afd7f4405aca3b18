// Rng tests: the published xoshiro128** sequence, seeding, and the range of nextFloat.

import { expect, test } from "bun:test";
import { randomSeed, Rng } from "./rng.ts";

test("xoshiro128** reference outputs from state (1, 2, 3, 4)", () => {
  const rng = Rng.fromState(1, 2, 3, 4);
  expect([rng.nextU32(), rng.nextU32(), rng.nextU32()]).toEqual([11520, 0, 5927040]);
});

test("a seed fixes the stream; nearby and 2^32-apart seeds differ", () => {
  const take = (seed: number) => {
    const r = new Rng(seed);
    return Array.from({ length: 8 }, () => r.nextU32());
  };
  expect(take(42)).toEqual(take(42));
  expect(take(42)).not.toEqual(take(43));
  expect(take(1)).not.toEqual(take(1 + 2 ** 32));
  expect(take(0)).not.toEqual(take(-1));
  expect(() => new Rng(NaN)).toThrow(RangeError);
});

test("nextFloat stays in [0, 1) with a mean near 1/2", () => {
  const r = new Rng(9);
  let sum = 0;
  let outside = 0;
  for (let i = 0; i < 100_000; i++) {
    const x = r.nextFloat();
    if (!(x >= 0 && x < 1)) outside++;
    sum += x;
  }
  expect(outside).toBe(0);
  expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.01);
});

test("randomSeed gives exact, replayable integers", () => {
  const s = randomSeed();
  expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
});
