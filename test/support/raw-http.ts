// HTTP/1.1 over a plain TCP socket, for tests that must see exactly how a response ends: whether the
// chunked body's terminating zero-length chunk arrived, and whether the peer closed (FIN) or reset.
import { connect } from "node:net";

export interface RawProgress {
  /** ms after the request was sent when the response header arrived; null until then. */
  headerAt: number | null;
  status: number | null;
  headers: Record<string, string>;
  /** The decoded body so far (chunk payloads, without the chunked framing). */
  body: string;
}

export interface RawResult extends RawProgress {
  /** The body was complete: the final zero-length chunk arrived (or all of Content-Length). */
  complete: boolean;
  /** How the connection ended: the peer closed it (fin), an error such as ECONNRESET, or our timeout. */
  end: "fin" | "error" | "timeout";
  error: string | null;
  /** ms from sending to the end of the connection. */
  ms: number;
}

export interface RawRequest {
  port: number;
  method: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
  timeoutMs: number;
}

/**
 * Sends one request with `Connection: close` and reads until the connection ends. `progress` is live,
 * so a test can look at a response while it is still streaming.
 */
export function rawRequest(r: RawRequest): { progress: RawProgress; done: Promise<RawResult> } {
  const progress: RawProgress = { headerAt: null, status: null, headers: {}, body: "" };
  const done = new Promise<RawResult>((resolve) => {
    const t0 = performance.now();
    const sock = connect({ host: "127.0.0.1", port: r.port });
    let buf = Buffer.alloc(0);
    let complete = false;
    let chunked = false;
    let length = -1;
    let received = 0;
    let finished = false;
    const dec = new TextDecoder();
    const finish = (end: RawResult["end"], error: string | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...progress, complete, end, error, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish("timeout", null), r.timeoutMs);

    // Consumes what it can of `buf`: the header once, then chunks (or raw bytes up to Content-Length).
    const parse = () => {
      if (progress.headerAt === null) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
        progress.status = Number(statusLine.split(" ")[1]);
        for (const l of lines) {
          const i = l.indexOf(":");
          progress.headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        progress.headerAt = performance.now() - t0;
        chunked = /chunked/i.test(progress.headers["transfer-encoding"] ?? "");
        length = chunked ? -1 : Number(progress.headers["content-length"] ?? "-1");
        buf = buf.subarray(end + 4);
      }
      if (!chunked) {
        received += buf.length;
        progress.body += dec.decode(buf, { stream: true });
        buf = Buffer.alloc(0);
        if (length >= 0 && received >= length) complete = true;
        return;
      }
      // Chunked: `<hex size>\r\n<data>\r\n` ..., ended by `0\r\n\r\n` (no trailers are expected).
      while (!complete) {
        const eol = buf.indexOf("\r\n");
        if (eol < 0) return;
        const size = parseInt(buf.subarray(0, eol).toString("latin1"), 16);
        if (size === 0) {
          if (buf.length < eol + 4) return;
          complete = true;
          buf = buf.subarray(eol + 4);
          return;
        }
        if (buf.length < eol + 2 + size + 2) return;
        progress.body += dec.decode(buf.subarray(eol + 2, eol + 2 + size), { stream: true });
        buf = buf.subarray(eol + 2 + size + 2);
      }
    };

    sock.on("connect", () => {
      const body = r.body ?? "";
      const head = [
        `${r.method} ${r.path} HTTP/1.1`,
        `Host: 127.0.0.1:${r.port}`,
        "Connection: close",
        ...Object.entries(r.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
        ...(r.body !== undefined ? ["Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`] : []),
      ];
      sock.write(head.join("\r\n") + "\r\n\r\n" + body);
    });
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      parse();
    });
    sock.on("end", () => finish("fin", null));
    sock.on("error", (e: NodeJS.ErrnoException) => finish("error", e.code ?? e.message));
  });
  return { progress, done };
}

/** The `data:` payloads of an SSE body, in order (a trailing partial frame is left out). */
export function sseData(body: string): string[] {
  const frames = body.split("\n\n");
  frames.pop(); // whatever follows the last blank line is incomplete (or empty)
  return frames.flatMap((f) => f.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)));
}
