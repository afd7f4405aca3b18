// Code-point classes the pre-tokenizers test (letter, number, mark, whitespace, ...), UTF-8 helpers,
// and GPT-2's byte ↔ printable-character table used by byte-level BPE vocabularies.

// One bit per Unicode general-category group, plus White_Space. A code point has exactly one
// category bit (UNDEFINED for unassigned ones) and maybe WHITESPACE; 0 means "outside the text",
// which the scanners use as their end-of-fragment sentinel.
export const UNDEFINED = 0x01;
export const NUMBER = 0x02; // \p{N}
export const LETTER = 0x04; // \p{L}
export const SEPARATOR = 0x08; // \p{Z}
export const MARK = 0x10; // \p{M}
export const PUNCTUATION = 0x20; // \p{P}
export const SYMBOL = 0x40; // \p{S}
export const CONTROL = 0x80; // \p{C}: Cc, Cf, Co, Cs
export const WHITESPACE = 0x100; // Unicode White_Space (not JS \s: no U+FEFF, plus U+0085)

const MAX_CODEPOINTS = 0x110000;

/**
 * Code points assigned in Unicode 16.0 and 17.0. llama.cpp's category table is generated from
 * Unicode 15.1, so it sees these as unassigned; JavaScriptCore's ICU already knows them. Masking
 * them back to UNDEFINED keeps our splits identical to llama.cpp's (checked against its table).
 * Inclusive ranges.
 */
const ASSIGNED_AFTER_15_1: readonly (readonly [number, number])[] = [
  [0x88f, 0x88f], [0x897, 0x897], [0xc5c, 0xc5c], [0xcdc, 0xcdc], [0x1acf, 0x1add], [0x1ae0, 0x1aeb],
  [0x1b4e, 0x1b4f], [0x1b7f, 0x1b7f], [0x1c89, 0x1c8a], [0x20c1, 0x20c1], [0x2427, 0x2429],
  [0x2b96, 0x2b96], [0x31e4, 0x31e5], [0xa7cb, 0xa7cf], [0xa7d2, 0xa7d2], [0xa7d4, 0xa7d4],
  [0xa7da, 0xa7dc], [0xa7f1, 0xa7f1], [0xfbc3, 0xfbd2], [0xfd90, 0xfd91], [0xfdc8, 0xfdce],
  [0x105c0, 0x105f3], [0x10940, 0x10959], [0x10d40, 0x10d65], [0x10d69, 0x10d85], [0x10d8e, 0x10d8f],
  [0x10ec2, 0x10ec7], [0x10ed0, 0x10ed8], [0x10efa, 0x10efc], [0x11380, 0x11389], [0x1138b, 0x1138b],
  [0x1138e, 0x1138e], [0x11390, 0x113b5], [0x113b7, 0x113c0], [0x113c2, 0x113c2], [0x113c5, 0x113c5],
  [0x113c7, 0x113ca], [0x113cc, 0x113d5], [0x113d7, 0x113d8], [0x113e1, 0x113e2], [0x116d0, 0x116e3],
  [0x11b60, 0x11b67], [0x11bc0, 0x11be1], [0x11bf0, 0x11bf9], [0x11db0, 0x11ddb], [0x11de0, 0x11de9],
  [0x11f5a, 0x11f5a], [0x13460, 0x143fa], [0x16100, 0x16139], [0x16d40, 0x16d79], [0x16ea0, 0x16eb8],
  [0x16ebb, 0x16ed3], [0x16ff2, 0x16ff6], [0x187f8, 0x187ff], [0x18cff, 0x18cff], [0x18d09, 0x18d1e],
  [0x18d80, 0x18df2], [0x1cc00, 0x1ccfc], [0x1cd00, 0x1ceb3], [0x1ceba, 0x1ced0], [0x1cee0, 0x1cef0],
  [0x1e5d0, 0x1e5fa], [0x1e5ff, 0x1e5ff], [0x1e6c0, 0x1e6de], [0x1e6e0, 0x1e6f5], [0x1e6fe, 0x1e6ff],
  [0x1f6d8, 0x1f6d8], [0x1f777, 0x1f77a], [0x1f8b2, 0x1f8bb], [0x1f8c0, 0x1f8c1], [0x1f8d0, 0x1f8d8],
  [0x1fa54, 0x1fa57], [0x1fa89, 0x1fa8a], [0x1fa8e, 0x1fa8f], [0x1fabe, 0x1fabe], [0x1fac6, 0x1fac6],
  [0x1fac8, 0x1fac8], [0x1facd, 0x1facd], [0x1fadc, 0x1fadc], [0x1fadf, 0x1fadf], [0x1fae9, 0x1faea],
  [0x1faef, 0x1faef], [0x1fbcb, 0x1fbef], [0x1fbfa, 0x1fbfa], [0x2b73a, 0x2b73f], [0x2cea2, 0x2cead],
  [0x323b0, 0x33479],
];

/** The White_Space property (PropList.txt): short and stable, so listed rather than derived. */
const WHITE_SPACE: readonly number[] = [
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
  0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
];

let table: Uint16Array | null = null;

/**
 * Builds the flag of every code point once (about 50 ms) from the engine's own Unicode property
 * escapes: one string holds every non-surrogate code point in order, so a match's string index
 * maps back to a code point by arithmetic and each run fills a slice of the table.
 */
function buildTable(): Uint16Array {
  const flags = new Uint16Array(MAX_CODEPOINTS).fill(UNDEFINED); // (0x110000)
  // UTF-16 of every code point but the surrogates: 0xf800 BMP units, then two per astral one.
  const units = new Uint16Array(0xf800 + 2 * (MAX_CODEPOINTS - 0x10000));
  for (let cp = 0; cp < 0xd800; cp++) units[cp] = cp;
  for (let cp = 0xe000; cp < 0x10000; cp++) units[cp - 0x800] = cp;
  for (let cp = 0x10000, i = 0xf800; cp < MAX_CODEPOINTS; cp++, i += 2) {
    units[i] = 0xd800 | ((cp - 0x10000) >> 10);
    units[i + 1] = 0xdc00 | ((cp - 0x10000) & 0x3ff);
  }
  const all = new TextDecoder("utf-16le").decode(units);
  // string index → code point: BMP below the surrogates is 1:1, the rest of the BMP is shifted by
  // the 0x800 skipped surrogates, astral code points take two units each from index 0xf800.
  const toCp = (i: number): number => (i < 0xd800 ? i : i < 0xf800 ? i + 0x800 : 0x10000 + ((i - 0xf800) >> 1));
  const categories: [RegExp, number][] = [
    [/\p{L}+/gu, LETTER],
    [/\p{N}+/gu, NUMBER],
    [/\p{Z}+/gu, SEPARATOR],
    [/\p{M}+/gu, MARK],
    [/\p{P}+/gu, PUNCTUATION],
    [/\p{S}+/gu, SYMBOL],
    [/[\p{Cc}\p{Cf}\p{Co}]+/gu, CONTROL],
  ];
  for (const [re, flag] of categories) {
    for (let m = re.exec(all); m !== null; m = re.exec(all)) {
      flags.fill(flag, toCp(m.index), toCp(m.index + m[0].length));
    }
  }
  flags.fill(CONTROL, 0xd800, 0xe000); // Cs
  for (const [lo, hi] of ASSIGNED_AFTER_15_1) flags.fill(UNDEFINED, lo, hi + 1);
  for (const cp of WHITE_SPACE) flags[cp] |= WHITESPACE;
  return flags;
}

/** The flags of every code point (index = code point). Built on first use. */
export function codepointFlags(): Uint16Array {
  table ??= buildTable();
  return table;
}

/** Splits a well-formed string into code points (as llama.cpp decodes UTF-8) plus, for each code
 *  point, the UTF-16 index where it starts; `offsets[n]` is the string's length. */
export function toCodepoints(text: string): { cps: Int32Array; offsets: Int32Array } {
  const cps = new Int32Array(text.length); // (≤ text.length)
  const offsets = new Int32Array(text.length + 1);
  let n = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    offsets[n] = i;
    cps[n++] = cp;
    i += cp > 0xffff ? 2 : 1;
  }
  offsets[n] = text.length;
  return { cps: cps.subarray(0, n), offsets: offsets.subarray(0, n + 1) };
}

export const utf8Encoder = new TextEncoder();
/** Keeps a leading U+FEFF (TextDecoder drops it by default) and maps bad bytes to U+FFFD. */
export const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Number of UTF-8 bytes of a code point. */
export function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * GPT-2's reversible byte → character map: printable Latin-1 bytes stand for themselves, the 68
 * others (controls, space, 0x7f-0xa0, 0xad) take U+0100.. in byte order, so every byte string
 * becomes a string of visible characters a BPE vocabulary can hold.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : next++);
  }
  return out;
})();

/** Inverse of BYTE_TO_CHAR, indexed by UTF-16 code unit (all 256 characters are in U+0021..U+0143);
 *  -1 for characters that stand for no byte. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const out = new Int16Array(0x144).fill(-1);
  for (let b = 0; b < 256; b++) out[BYTE_TO_CHAR[b]!.charCodeAt(0)] = b;
  return out;
})();
