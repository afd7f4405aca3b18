// exp(x) for x ≤ 0 from plain IEEE arithmetic: about twice Math.exp's speed over a 128k vocabulary,
// within 3e-9 relative, and bit-identical on every machine (so seeded sampling replays everywhere).

/** 2^n for n = −1074 … 0 (index n + 1074); below 2^−1074 the result is 0. */
const POW2 = new Float64Array(1075);
for (let i = 0; i < POW2.length; i++) POW2[i] = 2 ** (i - 1074);

// 2^f on [0, 1): degree-6 polynomial fitted for least relative error with p(0) = 1 and p(1) = 2
// exactly (so exp(0) = 1 and adjacent octaves join); max relative error 2.3e-9.
const C1 = 0.6931470323992307;
const C2 = 0.24022951329943806;
const C3 = 0.0554841524386102;
const C4 = 0.009678063914065395;
const C5 = 0.0012440876996582355;
const C6 = 0.00021715024899737756;

/**
 * e^x for x ≤ 0, as 2^t with t = x·log2(e) = n + f, n = ⌊t⌋. −∞ and NaN give 0. Callers subtract
 * the row's max first, so x > 0 never reaches it (the table index is clamped there, not the value).
 */
export function expNeg(x: number): number {
  const t = x * 1.4426950408889634;
  if (!(t >= -1074)) return 0;
  const n = Math.floor(t);
  const f = t - n;
  return (1 + f * (C1 + f * (C2 + f * (C3 + f * (C4 + f * (C5 + f * C6)))))) * POW2[n > 0 ? 1074 : n + 1074]!;
}
