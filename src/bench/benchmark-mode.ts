// `serve --benchmark`: the engine in this process, no port. Runs the same Scheduler and generation code
// as the server over a fixed prompt and reports prefill and decode speed, time to first token, peak RSS
// and, with block diffusion, tokens per forward pass.
import type { Engine } from "../engine/engine.ts";
import type { DlmOptions, Job, JobEvent } from "../engine/protocol.ts";
import { Scheduler } from "../engine/scheduler.ts";
import { defaultSampling } from "../generate/sampler.ts";

export interface BenchmarkOptions {
  iterations: number;
  maxTokens: number;
  prompt: string;
  dlm: DlmOptions | null;
  /** Run to max_tokens even past an end-of-generation token, so every iteration decodes as much. */
  ignoreEos: boolean;
}

export interface IterationResult {
  promptTokens: number;
  generatedTokens: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  ttftMs: number;
  forwardPasses?: number;
  tokensPerPass?: number;
}

export interface Stats {
  min: number;
  median: number;
  max: number;
}

export interface BenchmarkReport {
  engine: string;
  model: string;
  format: string;
  threads: number;
  iterations: IterationResult[];
  prefillTokensPerS: Stats;
  decodeTokensPerS: Stats;
  ttftMs: Stats;
  tokensPerPass: Stats | null;
  peakRssMiB: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { min: s[0], median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, max: s[s.length - 1] };
}

/** One generation through the real Scheduler, stepped on this thread. */
export function runOnce(engine: Engine, o: BenchmarkOptions): IterationResult {
  const job: Job = {
    prompt: { text: o.prompt, addSpecial: engine.info.addBos, parseSpecial: true },
    maxTokens: o.maxTokens,
    stop: [],
    sampling: { ...defaultSampling, temperature: 0 },
    logprobs: null,
    dlm: o.dlm,
    ignoreEos: o.ignoreEos,
  };
  let done: Extract<JobEvent, { type: "done" }> | null = null;
  let error: string | null = null;
  const s = new Scheduler(engine, { nParallel: 1, queueLimit: 1, queueTimeoutMs: 3_600_000 }, (_id, e) => {
    if (e.type === "done") done = e;
    if (e.type === "error") error = e.error.message;
  });
  engine.kvClear(-1);
  s.submit(1, job);
  while (!s.idle) s.step();
  if (error) throw new Error(error);
  const d = done as Extract<JobEvent, { type: "done" }> | null;
  if (!d) throw new Error("the generation ended without a result");
  return {
    promptTokens: d.usage.promptTokens,
    generatedTokens: d.usage.completionTokens,
    prefillTokensPerS: d.timings.promptTokensPerS,
    decodeTokensPerS: d.timings.generationTokensPerS,
    ttftMs: d.timings.promptMs,
    forwardPasses: d.timings.forwardPasses,
    tokensPerPass: d.timings.tokensPerPass,
  };
}

export function runBenchmark(engine: Engine, o: BenchmarkOptions, meta: { model: string; threads: number }, log = console.error): BenchmarkReport {
  log(`[bench] warm-up`);
  runOnce(engine, { ...o, maxTokens: Math.min(o.maxTokens, 8) });
  const its: IterationResult[] = [];
  for (let i = 0; i < o.iterations; i++) {
    const r = runOnce(engine, o);
    its.push(r);
    log(
      `[bench] ${i + 1}/${o.iterations}: prompt ${r.promptTokens} tok at ${r.prefillTokensPerS.toFixed(1)} tok/s, ` +
        `${r.generatedTokens} generated at ${r.decodeTokensPerS.toFixed(1)} tok/s` +
        (r.tokensPerPass !== undefined ? `, ${r.tokensPerPass.toFixed(2)} tokens/pass` : ""),
    );
  }
  return {
    engine: engine.kind,
    model: meta.model,
    format: engine.info.format,
    threads: meta.threads,
    iterations: its,
    prefillTokensPerS: stats(its.map((r) => r.prefillTokensPerS)),
    decodeTokensPerS: stats(its.map((r) => r.decodeTokensPerS)),
    ttftMs: stats(its.map((r) => r.ttftMs)),
    tokensPerPass: o.dlm ? stats(its.map((r) => r.tokensPerPass ?? 0)) : null,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

export function formatReport(r: BenchmarkReport): string {
  const row = (name: string, s: Stats, unit: string) =>
    `| ${name} | ${s.min.toFixed(2)} | ${s.median.toFixed(2)} | ${s.max.toFixed(2)} | ${unit} |`;
  return [
    `engine ${r.engine}, ${r.format}, ${r.threads} threads, ${r.iterations.length} iterations: ${r.model}`,
    "",
    "| measure | min | median | max | unit |",
    "|---|---|---|---|---|",
    row("prefill", r.prefillTokensPerS, "tok/s"),
    row("decode", r.decodeTokensPerS, "tok/s"),
    row("time to first token", r.ttftMs, "ms"),
    ...(r.tokensPerPass ? [row("tokens per forward pass", r.tokensPerPass, "tok")] : []),
    `| peak RSS | | ${r.peakRssMiB.toFixed(0)} | | MiB |`,
  ].join("\n");
}
