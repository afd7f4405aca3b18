// TextStream tests: UTF-8 split at every byte boundary, stop strings split at every boundary,
// no partial stop ever emitted, invalid bytes, flush.

import { describe, expect, test } from "bun:test";
import { TextStream } from "./text-stream.ts";

const enc = new TextEncoder();

/** Feeds `bytes` cut at the given offsets; returns every chunk, whether it stopped, and the flush. */
function feed(stops: string[], bytes: Uint8Array, cuts: number[]) {
  const ts = new TextStream(stops);
  const chunks: string[] = [];
  let stopped = false;
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    const r = ts.push(bytes.subarray(from, to));
    chunks.push(r.text);
    stopped ||= r.stopped;
    from = to;
  }
  const tail = ts.flush();
  return { chunks, stopped, tail, text: chunks.join("") + tail, matched: ts.matched };
}

/** Every way to cut `n` bytes into 2 and 3 pieces (plus one byte at a time). */
function cutPatterns(n: number): number[][] {
  const out: number[][] = [[], Array.from({ length: n - 1 }, (_, i) => i + 1)];
  for (let a = 1; a < n; a++) {
    out.push([a]);
    for (let b = a + 1; b < n; b++) out.push([a, b]);
  }
  return out;
}

/** A chunk must never be a string with a lone surrogate or contain U+FFFD that the input did not. */
function wellFormed(s: string): boolean {
  return s.isWellFormed();
}

describe("UTF-8", () => {
  const text = "aé€😀z ñ中文🎉";
  const bytes = enc.encode(text);

  test("multi-byte characters split at every boundary come out whole", () => {
    for (const cuts of cutPatterns(bytes.length)) {
      const r = feed([], bytes, cuts);
      expect(r.text).toBe(text);
      for (const c of r.chunks) expect(wellFormed(c) && !c.includes("\uFFFD")).toBe(true);
      expect(r.tail).toBe("");
    }
  });

  test("an incomplete sequence is held, not replaced, until it completes", () => {
    const ts = new TextStream([]);
    const smile = enc.encode("😀"); // F0 9F 98 80
    expect(ts.push(smile.subarray(0, 1)).text).toBe("");
    expect(ts.push(smile.subarray(1, 3)).text).toBe("");
    expect(ts.push(smile.subarray(3)).text).toBe("😀");
  });

  test("definitely invalid bytes become U+FFFD at once", () => {
    const ts = new TextStream([]);
    expect(ts.push(Uint8Array.of(0x61, 0xff)).text).toBe("a\uFFFD");
    expect(ts.push(Uint8Array.of(0xc0)).text).toBe("\uFFFD"); // never a valid lead byte
    expect(ts.push(Uint8Array.of(0xe2)).text).toBe(""); // could still be €
    expect(ts.push(Uint8Array.of(0x41)).text).toBe("\uFFFDA"); // now it cannot
    expect(ts.push(Uint8Array.of(0x80)).text).toBe("\uFFFD"); // stray continuation byte
  });

  test("flush turns an unfinished character into U+FFFD", () => {
    const ts = new TextStream([]);
    expect(ts.push(Uint8Array.of(0x68, 0x69, 0xe2, 0x82)).text).toBe("hi");
    expect(ts.flush()).toBe("\uFFFD");
    expect(ts.flush()).toBe("");
  });

  test("empty pushes are harmless", () => {
    const ts = new TextStream(["x"]);
    expect(ts.push(new Uint8Array(0))).toEqual({ text: "", stopped: false });
    expect(ts.flush()).toBe("");
  });
});

describe("stop strings", () => {
  test("a stop split at every boundary is cut out, and nothing of it leaks", () => {
    const stops = ["<|eot|>", "Ünïcødé 🛑"];
    for (const [input, before, stop] of [
      ["Hello world<|eot|>more text", "Hello world", "<|eot|>"],
      ["Grüße Ünïcødé 🛑 trailing", "Grüße ", "Ünïcødé 🛑"],
    ] as const) {
      const bytes = enc.encode(input);
      for (const cuts of cutPatterns(bytes.length)) {
        const r = feed(stops, bytes, cuts);
        expect(r.stopped).toBe(true);
        expect(r.matched).toBe(stop);
        expect(r.text).toBe(before);
        // No prefix of the stop (beyond what `before` legitimately ends with) was ever sent early:
        // the concatenation of chunks is exactly `before` at every point.
        let sent = "";
        for (const c of r.chunks) {
          sent += c;
          expect(before.startsWith(sent)).toBe(true);
        }
      }
    }
  });

  test("a partial stop that never completes is released, in order", () => {
    const input = "value <|eo and <|e then <|";
    const bytes = enc.encode(input);
    for (const cuts of cutPatterns(bytes.length)) {
      const r = feed(["<|eot|>"], bytes, cuts);
      expect(r.stopped).toBe(false);
      expect(r.text).toBe(input);
      for (const c of r.chunks) expect(c.endsWith("<") || c.endsWith("<|")).toBe(false);
    }
  });

  test("held-back text is only the possible stop prefix", () => {
    const ts = new TextStream(["STOP"]);
    expect(ts.push(enc.encode("abcST")).text).toBe("abc");
    expect(ts.push(enc.encode("x")).text).toBe("STx");
    expect(ts.push(enc.encode("aaS")).text).toBe("aa");
    expect(ts.push(enc.encode("TO")).text).toBe("");
    expect(ts.push(enc.encode("P tail"))).toEqual({ text: "", stopped: true });
    expect(ts.push(enc.encode("after"))).toEqual({ text: "", stopped: true });
    expect(ts.flush()).toBe("");
  });

  test("self-overlapping stop: the longest possible start is held", () => {
    const ts = new TextStream(["aab"]);
    expect(ts.push(enc.encode("aaa")).text).toBe("a"); // "aa" could still become "aab"
    expect(ts.push(enc.encode("b"))).toEqual({ text: "", stopped: true }); // "aaab" = "a" + stop
  });

  test("overlapping stops: the earliest occurrence wins", () => {
    expect(feed(["bcd", "abc"], enc.encode("xabcd"), []).text).toBe("x");
    expect(feed(["cd", "abcz"], enc.encode("xabcd"), [3]).text).toBe("xab");
    // One stop a prefix of another: both start at the same place, the text before is the same.
    const r = feed(["ab", "abc"], enc.encode("zabc"), [2]);
    expect(r.text).toBe("z");
    expect(r.matched).toBe("ab");
  });

  test("a stop spanning many single-byte pushes of multi-byte characters", () => {
    const bytes = enc.encode("前言结束。\n\n结束");
    const r = feed(["。\n\n结"], bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1));
    expect(r.text).toBe("前言结束");
    for (const c of r.chunks) expect(c.includes("\uFFFD")).toBe(false);
  });

  test("a stop at the very start and an empty stop list", () => {
    expect(feed(["</s>"], enc.encode("</s>hello"), [2])).toMatchObject({ text: "", stopped: true });
    expect(feed([], enc.encode("a</s>b"), [1]).text).toBe("a</s>b");
    expect(feed([""], enc.encode("abc"), [1]).text).toBe("abc"); // empty stops are ignored
  });

  test("flush releases the held prefix when generation ends for another reason", () => {
    const ts = new TextStream(["\nUser:"]);
    expect(ts.push(enc.encode("Sure.\nUse")).text).toBe("Sure.");
    expect(ts.flush()).toBe("\nUse");
  });

  test("a stop completed by the flushed replacement character still stops", () => {
    const ts = new TextStream(["x\uFFFD"]);
    expect(ts.push(Uint8Array.of(0x61, 0x78, 0xe2)).text).toBe("a");
    expect(ts.flush()).toBe("");
    expect(ts.matched).toBe("x\uFFFD");
  });
});
