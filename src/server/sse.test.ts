import { describe, expect, test } from "bun:test";
import { sseResponse } from "./sse.ts";

/** Reads a response body to its end, or gives up after `ms` (an unterminated stream). */
async function readAll(r: Response, ms = 2_000): Promise<{ text: string; ended: boolean }> {
  const reader = r.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  const deadline = Bun.sleep(ms).then(() => null);
  for (;;) {
    const next = await Promise.race([reader.read(), deadline]);
    if (next === null) return { text, ended: false };
    if (next.done) return { text, ended: true };
    text += dec.decode(next.value);
  }
}

describe("sseResponse", () => {
  test("a stream that ends normally closes with [DONE]", async () => {
    const r = sseResponse(new AbortController(), async (send) => send({ a: 1 }));
    expect(await readAll(r)).toEqual({ text: 'data: {"a":1}\n\ndata: [DONE]\n\n', ended: true });
  });

  // respond() aborts its jobs when one reports an error mid-stream (and the drain on SIGTERM cancels
  // jobs this way): the client must still get the error, then [DONE], then the end of the body, not a
  // stream left open until the connection is torn down.
  test("a server-side abort after an error frame still ends the stream with [DONE]", async () => {
    const abort = new AbortController();
    const r = sseResponse(abort, async (send) => {
      send({ a: 1 });
      send({ error: { code: "shutting_down" } });
      abort.abort();
    });
    expect(await readAll(r)).toEqual({ text: 'data: {"a":1}\n\ndata: {"error":{"code":"shutting_down"}}\n\ndata: [DONE]\n\n', ended: true });
  });

  test("a client that goes away aborts the generation, and later sends are dropped", async () => {
    const abort = new AbortController();
    let sendLater: ((o: unknown) => void) | null = null;
    let finish!: () => void;
    const r = sseResponse(abort, (send) => {
      sendLater = send;
      send({ a: 1 });
      return new Promise<void>((ok) => (finish = ok));
    });
    const reader = r.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(abort.signal.aborted).toBe(true);
    expect(() => sendLater!({ b: 2 })).not.toThrow();
    finish();
    await Bun.sleep(0);
  });
});
