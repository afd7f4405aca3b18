// Server-sent events from a fetch body: splits the byte stream into events and yields each event's
// data (the `data:` lines joined), skipping keep-alive comments; `[DONE]` ends the stream.
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      // An event ends at a blank line; the spec allows \n, \r\n and \r as line ends.
      for (let m = buf.match(/\r\n\r\n|\n\n|\r\r/); m && m.index !== undefined; m = buf.match(/\r\n\r\n|\n\n|\r\r/)) {
        const event = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        const data = dataOf(event);
        if (data === null) continue;
        if (data === "[DONE]") return;
        yield data;
      }
    }
    const rest = dataOf(buf + dec.decode());
    if (rest !== null && rest !== "[DONE]") yield rest;
  } finally {
    // Early exit (the consumer stopped reading): let the server see the request end.
    await reader.cancel().catch(() => {});
  }
}

/** The data of one event, or null when it has none (a comment or an empty event). */
function dataOf(event: string): string | null {
  const lines: string[] = [];
  for (const line of event.split(/\r\n|\n|\r/)) {
    if (line.startsWith("data:")) lines.push(line.slice(line[5] === " " ? 6 : 5));
  }
  return lines.length ? lines.join("\n") : null;
}
