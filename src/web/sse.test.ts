import { describe, expect, test } from "bun:test";
import { sseData } from "./sse.ts";

/** A body delivering `text` in the given chunk sizes (bytes), to split events and UTF-8 anywhere. */
function body(text: string, sizes: number[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(c) {
      let at = 0;
      for (let i = 0; at < bytes.length; i++) {
        const n = sizes[i % sizes.length];
        c.enqueue(bytes.slice(at, at + n));
        at += n;
      }
      c.close();
    },
  });
}

async function all(s: ReadableStream<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const d of sseData(s)) out.push(d);
  return out;
}

describe("sseData", () => {
  const stream = ': keep-alive\n\ndata: {"a":"é✓"}\n\ndata: line 1\ndata: line 2\n\nevent: x\r\ndata:no-space\r\n\r\ndata: [DONE]\n\ndata: after\n\n';
  const expected = ['{"a":"é✓"}', "line 1\nline 2", "no-space"];

  test("whole, byte by byte and in odd chunks give the same events, and stop at [DONE]", async () => {
    for (const sizes of [[1 << 20], [1], [3, 7, 2], [5]]) expect(await all(body(stream, sizes))).toEqual(expected);
  });

  test("a last event without its blank line still counts", async () => {
    expect(await all(body("data: 1\n\ndata: 2", [4]))).toEqual(["1", "2"]);
  });
});
