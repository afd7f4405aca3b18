// The code-point table against llama.cpp's own (unicode-data.cpp, read here as an oracle), and the
// GPT-2 byte map.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { llamaCppDir } from "../../test/support/llama-cpp.ts";
import {
  BYTE_TO_CHAR, CHAR_TO_BYTE, CONTROL, LETTER, MARK, NUMBER, PUNCTUATION, SEPARATOR, SYMBOL, UNDEFINED, WHITESPACE,
  codepointFlags, toCodepoints,
} from "./unicode.ts";

describe("code point flags", () => {
  test("spot checks", () => {
    const f = codepointFlags();
    expect(f[0x41]).toBe(LETTER);
    expect(f[0x4e2d]).toBe(LETTER); // 中
    expect(f[0x37]).toBe(NUMBER);
    expect(f[0x2167]).toBe(NUMBER); // Ⅷ (Nl)
    expect(f[0x20]).toBe(SEPARATOR | WHITESPACE);
    expect(f[0x0a]).toBe(CONTROL | WHITESPACE);
    expect(f[0x85]).toBe(CONTROL | WHITESPACE);
    expect(f[0xfeff]).toBe(CONTROL); // not whitespace, unlike JS \s
    expect(f[0x301]).toBe(MARK);
    expect(f[0x21]).toBe(PUNCTUATION);
    expect(f[0x24]).toBe(SYMBOL);
    expect(f[0xd800]).toBe(CONTROL);
    expect(f[0xe000]).toBe(CONTROL);
    expect(f[0x378]).toBe(UNDEFINED);
    expect(f[0x1acf]).toBe(UNDEFINED); // assigned in Unicode 16, unknown to llama.cpp's 15.1 table
  });

  test("equal to llama.cpp's table for every code point", () => {
    const src = readFileSync(join(llamaCppDir(), "src", "unicode-data.cpp"), "utf8");
    const section = (name: string) => {
      const start = src.indexOf(name);
      return src.slice(start, src.indexOf("};", start));
    };
    const starts = [...section("unicode_ranges_flags").matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+)\}/g)].map(
      (m) => [parseInt(m[1]!, 16), parseInt(m[2]!, 16)] as const,
    );
    const expected = new Uint16Array(0x110000);
    for (let i = 0; i + 1 < starts.length; i++) expected.fill(starts[i]![1], starts[i]![0], starts[i + 1]![0]);
    for (const m of section("unicode_set_whitespace").matchAll(/0x([0-9A-F]+)/g)) expected[parseInt(m[1]!, 16)]! |= WHITESPACE;
    const f = codepointFlags();
    const differ: string[] = [];
    for (let cp = 0; cp < 0x110000 && differ.length < 10; cp++) {
      if (f[cp] !== expected[cp]) differ.push(`U+${cp.toString(16)}: ${f[cp]} vs ${expected[cp]}`);
    }
    expect(differ).toEqual([]);
  });
});

test("GPT-2 byte map is a bijection onto printable characters", () => {
  expect(new Set(BYTE_TO_CHAR).size).toBe(256);
  expect(BYTE_TO_CHAR[0x20]).toBe("Ġ");
  expect(BYTE_TO_CHAR[0x0a]).toBe("Ċ");
  expect(BYTE_TO_CHAR[0x41]).toBe("A");
  for (let b = 0; b < 256; b++) expect(CHAR_TO_BYTE[BYTE_TO_CHAR[b]!.charCodeAt(0)]).toBe(b);
});

test("toCodepoints keeps UTF-16 offsets", () => {
  const { cps, offsets } = toCodepoints("a🦙b");
  expect(Array.from(cps)).toEqual([0x61, 0x1f999, 0x62]);
  expect(Array.from(offsets)).toEqual([0, 1, 3, 4]);
});
