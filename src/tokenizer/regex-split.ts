// Pre-tokenizer passes given as regexes, run the way llama.cpp runs them through std::regex
// (category-collapsed text, ASCII-only \s), so JS regexes produce the same splits.

import type { IntList } from "./int-list.ts";
import { LETTER, MARK, NUMBER, PUNCTUATION, SYMBOL, WHITESPACE, codepointFlags } from "./unicode.ts";

/** Context of one split: the text as code points, and lazily the subjects regex passes need. */
export interface SplitInput {
  cps: Int32Array; // (nCps)
  /** UTF-16 index of each code point, plus the string length at [nCps]. */
  offsets: Int32Array; // (nCps + 1)
  collapsed?: string;
  widened?: string;
  u16ToCp?: Int32Array;
}

// llama.cpp runs these with std::regex, which knows no Unicode classes: it first "collapses" the
// text to one byte per code point (ASCII kept, others replaced by a byte standing for their
// category, non-ASCII whitespace by \v) and rewrites each \p{..} into a class of that byte plus
// its ASCII members. Patterns without \p{..} run on the code points with non-ASCII whitespace
// replaced by \v. Doing the same here gives the same splits, quirks included (e.g. a pattern's
// literal non-ASCII letters can never meet \p{L}, and Lu/Ll/... all mean any letter).

const COLLAPSED = { N: 0xd1, L: 0xd2, P: 0xd3, M: 0xd4, S: 0xd5, other: 0xd0 } as const;
type Category = "N" | "L" | "P" | "M" | "S";
const ASCII_MEMBERS: Record<Category, string> = {
  N: "0-9",
  L: "A-Za-z",
  P: "!-#%-*,-/:;?@\\[-\\]_{}",
  M: "",
  S: "$+<->^`|~",
};
const CATEGORY_OF: Record<string, Category | undefined> = {
  N: "N", L: "L", P: "P", M: "M", S: "S", Lu: "L", Ll: "L", Lt: "L", Lm: "L", Lo: "L",
};
// std::regex's \s in the C locale: ASCII whitespace only (JS's \s also takes U+FEFF, U+00A0, ...).
const ASCII_SPACE_CLASS = "\\t-\\r ";

interface CompiledRegex {
  regex: RegExp;
  collapsed: boolean;
}

const compiled = new Map<string, CompiledRegex>();

/** Rewrites a pattern the way llama.cpp does (see above) and compiles it for JS. */
export function compileRegex(source: string): CompiledRegex {
  const cached = compiled.get(source);
  if (cached) return cached;
  const collapsed = /\\p\{(?:N|L|P|M|S|Lu|Ll|Lt|Lm|Lo)\}/.test(source);
  let out = "";
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === "\\") {
      const next = source[i + 1];
      if (next === "p" && source[i + 2] === "{") {
        const close = source.indexOf("}", i + 3);
        const cat = CATEGORY_OF[source.slice(i + 3, close)];
        if (cat === undefined) throw new Error(`unsupported class in pre-tokenizer regex: ${source.slice(i, close + 1)}`);
        const members = "\\u00" + COLLAPSED[cat].toString(16) + ASCII_MEMBERS[cat];
        out += inClass ? members : `[${members}]`;
        i = close;
        continue;
      }
      if (next === "s") out += inClass ? ASCII_SPACE_CLASS : `[${ASCII_SPACE_CLASS}]`;
      else if (next === "S" && !inClass) out += `[^${ASCII_SPACE_CLASS}]`;
      else if (next === "S") throw new Error("\\S inside a class is not supported");
      else out += ch + (next ?? "");
      i++;
      continue;
    }
    if (ch === "[" && !inClass) inClass = true;
    else if (ch === "]" && inClass) inClass = false;
    out += ch;
  }
  // Collapsed subjects are one UTF-16 unit per code point, so no `u` flag (and byte-like classes);
  // the others hold real code points, astral ones included.
  const result = { regex: new RegExp(out, collapsed ? "g" : "gu"), collapsed };
  compiled.set(source, result);
  return result;
}

function collapsedSubject(input: SplitInput): string {
  if (input.collapsed !== undefined) return input.collapsed;
  const flags = codepointFlags();
  const { cps } = input;
  const units = new Uint16Array(cps.length);
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    if (cp < 0x80) {
      units[i] = cp;
      continue;
    }
    const fl = flags[cp]!;
    if (fl & WHITESPACE) units[i] = 0x0b;
    else if (fl === NUMBER) units[i] = COLLAPSED.N;
    else if (fl === LETTER) units[i] = COLLAPSED.L;
    else if (fl === PUNCTUATION) units[i] = COLLAPSED.P;
    else if (fl === MARK) units[i] = COLLAPSED.M;
    else if (fl === SYMBOL) units[i] = COLLAPSED.S;
    else units[i] = COLLAPSED.other;
  }
  input.collapsed = decodeUnits(units);
  return input.collapsed;
}

/** The text with non-ASCII whitespace as \v (all BMP, so UTF-16 offsets are unchanged). */
function widenedSubject(input: SplitInput): string {
  if (input.widened !== undefined) return input.widened;
  const flags = codepointFlags();
  const { cps } = input;
  const parts: string[] = [];
  let run = 0;
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    if (cp >= 0x80 && flags[cp]! & WHITESPACE) {
      parts.push(codepointsToString(cps.subarray(run, i)), "\v");
      run = i + 1;
    }
  }
  parts.push(codepointsToString(cps.subarray(run)));
  input.widened = parts.join("");
  const u16ToCp = new Int32Array(input.offsets[cps.length]! + 1);
  for (let i = 0; i <= cps.length; i++) u16ToCp[input.offsets[i]!] = i;
  input.u16ToCp = u16ToCp;
  return input.widened;
}

export function splitRegex(source: string, input: SplitInput, start: number, end: number, out: IntList): void {
  const { regex, collapsed } = compileRegex(source);
  // Subject offsets are code points (collapsed) or UTF-16 units (widened); `toCp` maps back.
  let subject: string;
  let base: number;
  let toCp: (i: number) => number;
  if (collapsed) {
    subject = collapsedSubject(input).slice(start, end);
    base = start;
    toCp = (i) => base + i;
  } else {
    const u16Start = input.offsets[start]!;
    subject = widenedSubject(input).slice(u16Start, input.offsets[end]!);
    const map = input.u16ToCp!;
    toCp = (i) => map[u16Start + i]!;
  }
  let last = start;
  regex.lastIndex = 0;
  for (let m = regex.exec(subject); m !== null; m = regex.exec(subject)) {
    if (m[0].length === 0) {
      regex.lastIndex++; // an empty match splits nothing; step over it as std::regex_iterator does
      continue;
    }
    const mStart = toCp(m.index);
    const mEnd = toCp(m.index + m[0].length);
    if (mStart > last) out.push(mStart);
    out.push(mEnd);
    last = mEnd;
  }
  if (last < end) out.push(end);
}

function codepointsToString(cps: Int32Array): string {
  let s = "";
  for (let i = 0; i < cps.length; i += 4096) s += String.fromCodePoint(...cps.subarray(i, i + 4096));
  return s;
}

function decodeUnits(units: Uint16Array): string {
  let s = "";
  for (let i = 0; i < units.length; i += 4096) s += String.fromCharCode(...units.subarray(i, i + 4096));
  return s;
}

