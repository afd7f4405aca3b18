// Hand-written pre-tokenizer scanners for the common patterns (GPT-2, Llama-3, Qwen2/3.5, newline
// runs): each reproduces its regex's splits over code points in one linear pass, as llama.cpp does.

import type { IntList } from "./int-list.ts";
import { LETTER, MARK, NUMBER, WHITESPACE, codepointFlags } from "./unicode.ts";

const APOS = 0x27;
const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;

/** Length of an English contraction (`'s`, `'re`, ...) at `pos`, or 0. */
function contraction(cps: Int32Array, pos: number, end: number, anyCase: boolean): number {
  if (cps[pos] !== APOS || pos + 1 >= end) return 0;
  const lower = (c: number) => (anyCase && c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  const c1 = lower(cps[pos + 1]!);
  if (c1 === 0x73 || c1 === 0x74 || c1 === 0x6d || c1 === 0x64) return 2; // s t m d
  if (pos + 2 >= end) return 0;
  const c2 = lower(cps[pos + 2]!);
  if ((c1 === 0x72 || c1 === 0x76) && c2 === 0x65) return 3; // re ve
  if (c1 === 0x6c && c2 === 0x6c) return 3; // ll
  return 0;
}

/** Length of the whitespace run at `pos`, and the end of its last \r or \n (0 if none). */
function whitespaceRun(cps: Int32Array, flags: Uint16Array, pos: number, end: number): [number, number] {
  let p = pos;
  let lastNewlineEnd = 0;
  while (p < end && flags[cps[p]!]! & WHITESPACE) {
    if (cps[p] === CR || cps[p] === LF) lastNewlineEnd = p + 1;
    p++;
  }
  return [p - pos, lastNewlineEnd];
}

/** Emits the word ending at the end of a whitespace run, per `\s+(?!\S)|\s+`: a run followed by
 *  more text leaves its last character to prefix the next word. */
function whitespaceEnd(pos: number, run: number, end: number): number {
  if (run > 1 && pos + run < end) return pos + run - 1;
  return pos + Math.max(run, 1);
}

export function scanGpt2(cps: Int32Array, start: number, end: number, out: IntList): void {
  const flags = codepointFlags();
  // Flags of the code point at p, 0 past the fragment (the patterns can't look across it).
  const f = (p: number) => (p < end ? flags[cps[p]!]! : 0);
  let pos = start;
  while (pos < end) {
    const c = cps[pos]!;
    const n = contraction(cps, pos, end, false);
    if (n > 0) {
      out.push((pos += n));
      continue;
    }
    // ` ?X+` for X in letters, numbers, then "anything else but whitespace"
    const lead = c === SPACE ? 1 : 0;
    const fl = f(pos + lead);
    let p = pos + lead;
    if (fl & LETTER) {
      while (f(p) & LETTER) p++;
    } else if (fl & NUMBER) {
      while (f(p) & NUMBER) p++;
    } else if (fl !== 0 && !(fl & (WHITESPACE | LETTER | NUMBER))) {
      while (f(p) !== 0 && !(f(p) & (WHITESPACE | LETTER | NUMBER))) p++;
    } else {
      const [run] = whitespaceRun(cps, flags, pos, end);
      p = whitespaceEnd(pos, run, end);
    }
    out.push((pos = p));
  }
}

/** Llama-3 (maxDigits 3), Qwen2 (maxDigits 1) and Qwen3.5 (marks join letters). */
export function scanLlama3(cps: Int32Array, start: number, end: number, out: IntList, maxDigits: number, marks: boolean): void {
  const flags = codepointFlags();
  const f = (p: number) => (p < end ? flags[cps[p]!]! : 0);
  const wordClass = marks ? LETTER | MARK : LETTER;
  const notPunct = marks ? WHITESPACE | LETTER | MARK | NUMBER : WHITESPACE | LETTER | NUMBER;
  let pos = start;
  while (pos < end) {
    const c = cps[pos]!;
    const fl = f(pos);
    const n = contraction(cps, pos, end, true);
    if (n > 0) {
      out.push((pos += n));
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+ : one optional lead character of any other kind, then letters
    if (c !== CR && c !== LF && !(fl & NUMBER) && (fl & wordClass || f(pos + 1) & wordClass)) {
      let p = pos + 1;
      while (f(p) & wordClass) p++;
      out.push((pos = p));
      continue;
    }
    // \p{N}{1,maxDigits}
    if (fl & NUMBER) {
      let p = pos;
      while (f(p) & NUMBER && p - pos < maxDigits) p++;
      out.push((pos = p));
      continue;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    const fl2 = c === SPACE ? f(pos + 1) : fl;
    if (!(fl2 & notPunct)) {
      let p = pos + (c === SPACE ? 1 : 0);
      while (f(p) !== 0 && !(f(p) & notPunct)) p++;
      while (p < end && (cps[p] === CR || cps[p] === LF)) p++;
      out.push((pos = p));
      continue;
    }
    // \s*[\r\n]+ | \s+(?!\S) | \s+
    const [run, lastNewlineEnd] = whitespaceRun(cps, flags, pos, end);
    out.push((pos = lastNewlineEnd > 0 ? lastNewlineEnd : whitespaceEnd(pos, run, end)));
  }
}

export function scanNewlines(cps: Int32Array, start: number, end: number, out: IntList): void {
  let pos = start;
  while (pos < end) {
    const newline = cps[pos] === LF;
    while (pos < end && (cps[pos] === LF) === newline) pos++;
    out.push(pos);
  }
}
