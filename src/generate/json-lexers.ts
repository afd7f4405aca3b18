// Scalar lexers of the JSON constraint: strings (escapes, UTF-8 checked byte by byte, surrogate
// pairs, lengths in code points) and numbers (JSON's grammar, digit caps, numeric bounds).

import { canReach, inBounds, MAX_DIGITS } from "./json-number.ts";
import type { NumberNode } from "./json-schema-graph.ts";

/** Frame tags: one numbering for every frame kind (containers' too), so one switch dispatches. */
export const T_DOC = 0, T_OBJ = 1, T_ARR = 2, T_STR = 3, T_NUM = 4, T_LIT = 5, T_UNION = 6, T_DONE = 7;

/** Exponent digits an unbounded number may have (±99: every such value is a finite double). */
const MAX_EXP_DIGITS = 2;

export const QUOTE = 0x22, BACKSLASH = 0x5c;
const MINUS = 0x2d, PLUS = 0x2b, DOT = 0x2e, ZERO = 0x30;

// Number phases: after '-' · a leading 0 · integer digits · after '.' · fraction · after e · after e± · exponent.
const N_SIGN = 0, N_ZERO = 1, N_INT = 2, N_DOT = 3, N_FRAC = 4, N_E = 5, N_ESIGN = 6, N_EXP = 7;

// UTF-8 continuation ranges (Unicode table 3-7): 0 any, 1 after E0, 2 after ED (no surrogates),
// 3 after F0 (no overlongs), 4 after F4 (≤ U+10FFFF).
const CONT_LO = [0x80, 0xa0, 0x80, 0x90, 0x80];
const CONT_HI = [0xbf, 0xbf, 0x9f, 0xbf, 0x8f];

/** A value that is complete and can take no more bytes (closed string, container, literal). */
export class Done {
  readonly t = T_DONE;
}
export const DONE = new Done();

/** Inside a string, after its opening quote. */
export class StrFrame {
  readonly t = T_STR;
  constructor(
    readonly min: number,
    readonly max: number,
    /** Code points so far (a \uD83D\uDE00 pair counts once, as validators count). */
    readonly n: number,
    /** Escape phase: 0 none; 1 after '\'; 2–5 hex digits of \u; 6 '\' and 7 'u' of a low surrogate; 8–11 its hex digits. */
    readonly e: number,
    /** The \u code unit being read. */
    readonly u: number,
    /** UTF-8 continuation bytes still due × 8 + which range the next one must be in (CONT_LO/HI). */
    readonly c: number,
    /** Keys of open objects: the raw bytes so far (one char per byte), decoded when the key closes. */
    readonly raw: string | null,
  ) {}
}

/** Inside a number: its digits as text (for the bounds check) and where in the grammar it is. */
export class NumFrame {
  readonly t = T_NUM;
  constructor(
    readonly node: NumberNode,
    readonly ph: number,
    readonly neg: boolean,
    readonly int: string,
    readonly frac: string,
    readonly exp: number,
  ) {}
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** One byte inside a string: the next frame, DONE at the closing quote, null if refused. */
export function stepStr(f: StrFrame, b: number): StrFrame | Done | null {
  const raw = f.raw === null ? null : f.raw + String.fromCharCode(b);
  if (f.c !== 0) {
    const code = f.c & 7;
    if (b < CONT_LO[code] || b > CONT_HI[code]) return null;
    const due = (f.c >> 3) - 1;
    return new StrFrame(f.min, f.max, f.n, 0, 0, due << 3, raw);
  }
  const e = f.e;
  if (e === 0) {
    if (b === QUOTE) return f.n >= f.min ? DONE : null;
    if (b < 0x20 || f.n >= f.max) return null;
    if (b === BACKSLASH) return new StrFrame(f.min, f.max, f.n + 1, 1, 0, 0, raw);
    if (b < 0x80) return new StrFrame(f.min, f.max, f.n + 1, 0, 0, 0, raw);
    let c: number;
    if (b >= 0xc2 && b <= 0xdf) c = (1 << 3) | 0;
    else if (b === 0xe0) c = (2 << 3) | 1;
    else if (b === 0xed) c = (2 << 3) | 2;
    else if (b >= 0xe1 && b <= 0xef) c = (2 << 3) | 0;
    else if (b === 0xf0) c = (3 << 3) | 3;
    else if (b >= 0xf1 && b <= 0xf3) c = (3 << 3) | 0;
    else if (b === 0xf4) c = (3 << 3) | 4;
    else return null;
    return new StrFrame(f.min, f.max, f.n + 1, 0, 0, c, raw);
  }
  if (e === 1) {
    // \" \\ \/ \b \f \n \r \t, or \u followed by 4 hex digits.
    if (b === 0x75) return new StrFrame(f.min, f.max, f.n, 2, 0, 0, raw);
    const simple = b === QUOTE || b === BACKSLASH || b === 0x2f || b === 0x62 || b === 0x66 ||
      b === 0x6e || b === 0x72 || b === 0x74;
    return simple ? new StrFrame(f.min, f.max, f.n, 0, 0, 0, raw) : null;
  }
  if (e === 6) return b === BACKSLASH ? new StrFrame(f.min, f.max, f.n, 7, 0, 0, raw) : null;
  if (e === 7) return b === 0x75 ? new StrFrame(f.min, f.max, f.n, 8, 0, 0, raw) : null;
  const h = hexValue(b);
  if (h < 0) return null;
  if (e === 8) return h === 0xd ? new StrFrame(f.min, f.max, f.n, 9, 0, 0, raw) : null;
  if (e === 9) return h >= 0xc ? new StrFrame(f.min, f.max, f.n, 10, 0, 0, raw) : null;
  if (e >= 10) return new StrFrame(f.min, f.max, f.n, e === 11 ? 0 : 11, 0, 0, raw);
  // e in 2..5: hex digits of \uXXXX. A high surrogate must be followed by an escaped low one (a lone
  // surrogate is not a character and would make lengths ambiguous); a lone low one is refused.
  const u = f.u * 16 + h;
  // \uDC.. to \uDF.. can only become lone low surrogates: refuse at the second digit, not a dead end later.
  if (e === 3 && u >= 0xdc && u <= 0xdf) return null;
  if (e < 5) return new StrFrame(f.min, f.max, f.n, e + 1, u, 0, raw);
  if (u >= 0xd800 && u <= 0xdbff) return new StrFrame(f.min, f.max, f.n, 6, 0, 0, raw);
  if (u >= 0xdc00 && u <= 0xdfff) return null;
  return new StrFrame(f.min, f.max, f.n, 0, 0, 0, raw);
}

/** The frame for a number whose first byte is `b` ('-' or a digit); null for any other byte. */
export function startNum(node: NumberNode, b: number): NumFrame | null {
  if (b === MINUS) return numFrame(node, N_SIGN, true, "", "", 0);
  return stepNum(new NumFrame(node, N_SIGN, false, "", "", 0), b);
}

/** A number frame, or null if `bounds` can no longer be met from this text. */
function numFrame(node: NumberNode, ph: number, neg: boolean, int: string, frac: string, exp: number): NumFrame | null {
  if (node.bounds !== null) {
    const fracPart = ph === N_DOT || ph === N_FRAC ? frac : null;
    if (ph !== N_SIGN && !canReach(node.bounds, neg, int, fracPart, node.integer)) return null;
    if (ph === N_SIGN && !canReach(node.bounds, neg, "", null, node.integer)) return null;
  }
  return new NumFrame(node, ph, neg, int, frac, exp);
}

export function stepNum(f: NumFrame, b: number): NumFrame | null {
  const d = b - ZERO;
  const digit = d >= 0 && d <= 9;
  const node = f.node;
  const digits = f.int.length + f.frac.length;
  const mayExp = !node.integer && node.bounds === null;
  const isE = (b | 0x20) === 0x65;
  switch (f.ph) {
    case N_SIGN:
      if (!digit) return null;
      return numFrame(node, d === 0 ? N_ZERO : N_INT, f.neg, String(d), "", 0);
    case N_ZERO:
    case N_INT:
      if (digit) return f.ph === N_INT && digits < MAX_DIGITS ? numFrame(node, N_INT, f.neg, f.int + d, "", 0) : null;
      if (b === DOT) return !node.integer && digits < MAX_DIGITS ? numFrame(node, N_DOT, f.neg, f.int, "", 0) : null;
      return isE && mayExp ? numFrame(node, N_E, f.neg, f.int, f.frac, 0) : null;
    case N_DOT:
    case N_FRAC:
      if (digit) return digits < MAX_DIGITS ? numFrame(node, N_FRAC, f.neg, f.int, f.frac + d, 0) : null;
      return isE && mayExp && f.ph === N_FRAC ? numFrame(node, N_E, f.neg, f.int, f.frac, 0) : null;
    default:
      // After 'e' a sign or a digit, after 'e±' a digit, then up to MAX_EXP_DIGITS of them.
      if (f.ph === N_E && (b === PLUS || b === MINUS)) return numFrame(node, N_ESIGN, f.neg, f.int, f.frac, 0);
      if (!digit || f.exp >= MAX_EXP_DIGITS) return null;
      return numFrame(node, N_EXP, f.neg, f.int, f.frac, f.exp + 1);
  }
}

export function numCanEnd(f: NumFrame): boolean {
  if (f.ph !== N_ZERO && f.ph !== N_INT && f.ph !== N_FRAC && f.ph !== N_EXP) return false;
  return f.node.bounds === null || inBounds(f.node.bounds, f.neg, f.int, f.frac);
}
