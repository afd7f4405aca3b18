// Concurrency benchmark through HTTP: starts the real server, runs 1, 4, 16 (…) concurrent streaming
// clients, and reports aggregate generated tokens/s and request latency percentiles, per --parallel.
import type { Subprocess } from "bun";
import { join } from "node:path";

export interface ConcurrencyOptions {
  engine: "native" | "llama";
  model: string;
  threads: number;
  parallel: number[];
  clients: number[];
  requestsPerClient: number;
  maxTokens: number;
  ctx: number;
}

export interface ConcurrencyRow {
  parallel: number;
  clients: number;
  requests: number;
  tokens: number;
  seconds: number;
  tokensPerS: number;
  p50Ms: number;
  p95Ms: number;
  ttftP50Ms: number;
}

const root = join(import.meta.dir, "..", "..");

async function startServer(o: ConcurrencyOptions, parallel: number): Promise<{ url: string; proc: Subprocess }> {
  const proc = Bun.spawn(
    [process.execPath, join(root, "src", "cli.ts"), "serve", "--engine", o.engine, "--model", o.model, "--port", "0",
      "--threads", String(o.threads), "--parallel", String(parallel), "--ctx", String(o.ctx), "--queue", "1024"],
    { stdout: "ignore", stderr: "pipe" },
  );
  const dec = new TextDecoder();
  let log = "";
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let url = "";
  const deadline = Date.now() + 120_000;
  while (!url && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${log}`);
    log += dec.decode(value);
    url = log.match(/listening on (http:\/\/\S+)/)?.[1] ?? "";
  }
  // Keep draining stderr so the pipe never fills.
  (async () => {
    for (;;) if ((await reader.read()).done) break;
  })();
  while (Date.now() < deadline && (await fetch(`${url}/ready`).then((r) => r.status).catch(() => 0)) !== 200) await Bun.sleep(100);
  return { url, proc };
}

/** One streaming request; returns latency, time to first token and generated tokens. */
async function request(url: string, i: number, maxTokens: number): Promise<{ ms: number; ttft: number; tokens: number }> {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/completions`, {
    method: "POST",
    body: JSON.stringify({ prompt: `Request ${i}: tell me a story about a lighthouse keeper.`, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  const reader = r.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let ttft = 0;
  let tokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    if (ttft === 0 && /"text":"[^"]/.test(buf)) ttft = performance.now() - t0;
    const m = buf.match(/"completion_tokens":(\d+)/);
    if (m) tokens = Number(m[1]);
  }
  return { ms: performance.now() - t0, ttft, tokens };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

export async function runConcurrency(o: ConcurrencyOptions, log = console.error): Promise<ConcurrencyRow[]> {
  const rows: ConcurrencyRow[] = [];
  for (const parallel of o.parallel) {
    const { url, proc } = await startServer(o, parallel);
    try {
      await request(url, -1, 4); // warm-up
      for (const clients of o.clients) {
        const t0 = performance.now();
        const results = await Promise.all(
          Array.from({ length: clients }, async (_, c) => {
            const out = [];
            for (let k = 0; k < o.requestsPerClient; k++) out.push(await request(url, c * 1000 + k, o.maxTokens));
            return out;
          }),
        );
        const seconds = (performance.now() - t0) / 1000;
        const flat = results.flat();
        const tokens = flat.reduce((a, r) => a + r.tokens, 0);
        const row = {
          parallel, clients, requests: flat.length, tokens, seconds,
          tokensPerS: tokens / seconds,
          p50Ms: pct(flat.map((r) => r.ms), 50),
          p95Ms: pct(flat.map((r) => r.ms), 95),
          ttftP50Ms: pct(flat.map((r) => r.ttft), 50),
        };
        rows.push(row);
        log(`[concurrency] parallel ${parallel}, ${clients} clients: ${row.tokensPerS.toFixed(1)} tok/s, p50 ${row.p50Ms.toFixed(0)} ms, p95 ${row.p95Ms.toFixed(0)} ms`);
      }
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
    }
  }
  return rows;
}

export function concurrencyTable(rows: ConcurrencyRow[]): string {
  return [
    "| --parallel | clients | requests | tokens/s (aggregate) | p50 latency ms | p95 latency ms | TTFT p50 ms |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.parallel} | ${r.clients} | ${r.requests} | ${r.tokensPerS.toFixed(1)} | ${r.p50Ms.toFixed(0)} | ${r.p95Ms.toFixed(0)} | ${r.ttftP50Ms.toFixed(0)} |`),
  ].join("\n");
}
