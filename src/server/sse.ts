// Server-sent events in OpenAI's streaming format: `data: <json>` frames, a final `data: [DONE]`, and
// keep-alive comments so proxies and clients do not give up during a long prefill.
const KEEPALIVE_MS = 10_000;

export type Send = (obj: unknown) => void;

/**
 * Streams what `produce` sends. When the client goes away the stream is cancelled and `abort` fires,
 * which cancels the generation in the engine at its next step.
 */
export function sseResponse(abort: AbortController, produce: (send: Send) => Promise<void>): Response {
  const enc = new TextEncoder();
  let timer: ReturnType<typeof setInterval> | undefined;
  // Only the client going away (cancel) closes the stream early. An abort from our side (respond()
  // cancelling the other choices after an error, or the drain on SIGTERM) still ends the stream
  // properly: the error frame, [DONE], then the end of the body.
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (s: string) => {
        if (closed) return;
        try {
          controller.enqueue(enc.encode(s));
        } catch {
          closed = true;
        }
      };
      timer = setInterval(() => write(": keep-alive\n\n"), KEEPALIVE_MS);
      abort.signal.addEventListener("abort", () => clearInterval(timer));
      produce((obj) => write(`data: ${JSON.stringify(obj)}\n\n`))
        .catch((e) => write(`data: ${JSON.stringify({ error: { message: String(e?.message ?? e), type: "server_error", param: null, code: null } })}\n\n`))
        .finally(() => {
          clearInterval(timer);
          write("data: [DONE]\n\n");
          if (!closed) {
            closed = true;
            controller.close();
          }
        });
    },
    cancel() {
      closed = true;
      clearInterval(timer);
      abort.abort();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    },
  });
}
