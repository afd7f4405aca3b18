// rank tests: sortRange against Array.prototype.sort on random rows with and without ties, and
// the threshold gathers.

import { expect, test } from "bun:test";
import { gatherAbove, keepAbove, sortRange } from "./rank.ts";
import { Rng } from "./rng.ts";

function row(n: number, seed: number, distinct: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => Math.floor(rng.nextFloat() * distinct) - distinct / 2);
}

test("sortRange orders by logit, then lowest id, on any sub-range", () => {
  for (const [n, distinct] of [[1, 4], [2, 1], [17, 3], [300, 5], [5000, 1e9]] as const) {
    const w = row(n, n, distinct);
    const idx = Int32Array.from({ length: n }, (_, i) => n - 1 - i); // reversed: a bad start
    sortRange(idx, w, 0, n - 1);
    const want = [...Array(n).keys()].sort((a, b) => w[b]! - w[a]! || a - b);
    expect(Array.from(idx)).toEqual(want);
  }
  const w = row(100, 1, 7);
  const idx = Int32Array.from({ length: 100 }, (_, i) => i);
  sortRange(idx, w, 10, 59);
  expect(Array.from(idx.subarray(0, 10))).toEqual([...Array(10).keys()]);
  expect(Array.from(idx.subarray(60))).toEqual([...Array(40).keys()].map((i) => i + 60));
  const mid = [...Array(50).keys()].map((i) => i + 10).sort((a, b) => w[b]! - w[a]! || a - b);
  expect(Array.from(idx.subarray(10, 60))).toEqual(mid);
});

test("gatherAbove and keepAbove keep order and the threshold itself", () => {
  const w = Float32Array.of(1, 5, 3, 5, -2);
  const idx = new Int32Array(5);
  expect(gatherAbove(idx, w, 5, 3)).toBe(3);
  expect(Array.from(idx.subarray(0, 3))).toEqual([1, 2, 3]);
  idx.set([4, 3, 0, 1]);
  expect(keepAbove(idx, w, 4, 1)).toBe(3);
  expect(Array.from(idx.subarray(0, 3))).toEqual([3, 0, 1]);
  expect(keepAbove(idx, w, -1, 5)).toBe(2);
  expect(Array.from(idx.subarray(0, 2))).toEqual([1, 3]);
});
