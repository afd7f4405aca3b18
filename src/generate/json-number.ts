// Numeric bounds for the JSON constraint: `minimum`/`maximum` (and the exclusive forms) as exact
// integers on a 10^-15 grid, and whether a number's text so far can still end inside them.
//
// Why a grid: a number the constraint lets through has at most MAX_DIGITS digits, so every value it
// can write is an integer multiple of 10^-15, and "can this prefix still reach [lo, hi]" is exact
// integer arithmetic (BigInt) instead of float guesswork. Why 15 digits: a decimal with ≤ 15
// significant digits survives decimal → double → decimal, so two different texts never parse to the
// same double, and a text above an exclusive bound parses to a double above it (the validator compares
// doubles, and rounding is monotonic).

/** Digits a number may have in all (integer part + fraction). */
export const MAX_DIGITS = 15;

const SCALE = 10n ** BigInt(MAX_DIGITS);

/** Inclusive bounds in grid units (value × 10^15); null: unbounded on that side. */
export interface Bounds {
  lo: bigint | null;
  hi: bigint | null;
}

const POW10: bigint[] = Array.from({ length: 2 * MAX_DIGITS + 2 }, (_, i) => 10n ** BigInt(i));

/** 10^k for the small k the grid math needs, without re-computing powers per byte. */
function pow10(k: number): bigint {
  return k < POW10.length ? POW10[k] : 10n ** BigInt(k);
}

/** floor(a / b) for b > 0 (BigInt division truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/** A finite double's shortest decimal form (what JSON wrote) as m × 10^e, exactly. */
function decimalOf(x: number): { m: bigint; e: number } {
  const s = String(x);
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(s);
  if (match === null) throw new RangeError(`not a finite number: ${s}`);
  const frac = match[3] ?? "";
  return { m: BigInt(match[1] + match[2] + frac), e: Number(match[4] ?? 0) - frac.length };
}

/** The smallest grid point ≥ x (> x when exclusive). */
export function gridLo(x: number, exclusive: boolean): bigint {
  const { m, e } = decimalOf(x);
  const k = e + MAX_DIGITS;
  if (k >= 0) return m * pow10(k) + (exclusive ? 1n : 0n);
  const d = pow10(-k);
  const fl = floorDiv(m, d);
  return fl * d === m && !exclusive ? fl : fl + 1n;
}

/** The largest grid point ≤ x (< x when exclusive). */
export function gridHi(x: number, exclusive: boolean): bigint {
  const { m, e } = decimalOf(x);
  const k = e + MAX_DIGITS;
  if (k >= 0) return m * pow10(k) - (exclusive ? 1n : 0n);
  const d = pow10(-k);
  const fl = floorDiv(m, d);
  return fl * d === m && exclusive ? fl - 1n : fl;
}

/**
 * Is there a multiple of `res` in [a, b) that also lies in the magnitude bounds [lo, hi]?
 * Everything is in grid units and a ≥ 0.
 */
function hit(a: bigint, b: bigint, res: bigint, lo: bigint | null, hi: bigint | null): boolean {
  let x = lo !== null && lo > a ? lo : a;
  const r = x % res;
  if (r !== 0n) x += res - r;
  return x < b && (hi === null || x <= hi);
}

/**
 * Can a number whose text so far is `-`? `int` [`.` `frac`] still end inside `bounds`, writing at
 * most MAX_DIGITS digits and no exponent? `frac` is null before a '.', "" right after it; `int` is ""
 * after a lone '-'. `integer`: no fraction may follow.
 */
export function canReach(bounds: Bounds, neg: boolean, int: string, frac: string | null, integer: boolean): boolean {
  // A negative number's magnitude m has value −m: bound the magnitude by [−hi, −lo].
  const lo = neg ? (bounds.hi === null ? null : -bounds.hi) : bounds.lo;
  const hi = neg ? (bounds.lo === null ? null : -bounds.lo) : bounds.hi;
  if (int === "") {
    for (let d = 0; d <= 9; d++) if (canReach(bounds, neg, String(d), null, integer)) return true;
    return false;
  }
  const a = int.length;
  if (frac !== null) {
    // Fixed integer part and fraction prefix: values in [int.frac, int.frac + 10^-f), on the grid of
    // the digits still allowed (MAX_DIGITS − a in the fraction, so a resolution of 10^a units).
    const f = frac.length;
    const v = BigInt(int + frac) * pow10(MAX_DIGITS - f);
    return hit(v, v + pow10(MAX_DIGITS - f), pow10(a), lo, hi);
  }
  const d = BigInt(int);
  if (int === "0") return hit(0n, SCALE, integer ? SCALE : pow10(1), lo, hi);
  // k more integer digits give [d·10^k, (d+1)·10^k), with MAX_DIGITS − a − k fraction digits left.
  for (let k = 0; a + k <= MAX_DIGITS; k++) {
    const res = integer ? SCALE : pow10(a + k);
    if (hit(d * pow10(k) * SCALE, (d + 1n) * pow10(k) * SCALE, res, lo, hi)) return true;
  }
  return false;
}

/** Is the complete number `-`? `int` [`.` `frac`] inside `bounds`? */
export function inBounds(bounds: Bounds, neg: boolean, int: string, frac: string): boolean {
  let v = BigInt(int + frac) * pow10(MAX_DIGITS - frac.length);
  if (neg) v = -v;
  return (bounds.lo === null || v >= bounds.lo) && (bounds.hi === null || v <= bounds.hi);
}
