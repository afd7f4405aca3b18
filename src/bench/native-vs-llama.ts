// Native engine vs llama.cpp on a random model in the BitNet-2B-4T shape, side by side in one run: load
// time, pp128/pp512 (prefill tok/s), tg128 (decode tok/s and GB/s of weights read), peak RSS, at 1 and 2 threads.
//
//   bun src/bench/native-vs-llama.ts [--model FILE] [--format tq2_0|tq1_0|i2_s] [--threads 1,2]
//       [--engines native-q8,native,llama] [--tests pp128,pp512,tg128] [--reps 2] [--json FILE]
//
// Each engine runs in its own child process (so peak RSS is its own), measurements alternating between
// them (best of --reps for each); the model is generated on demand
// under test/fixtures/generated/big/ and read once beforehand so every engine starts from a warm page cache.
// Decode GB/s is weights read per token x tg128, shown against the DRAM read bandwidth that libternary's
// bench measures (ternary-bench dram-read) when it is built. The box may be shared: compare engines within
// one run, and prefer the best of --reps repetitions. `native-q8` is the native engine with TERNARY_HEAD=q8.
import { closeSync, existsSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { generateBitnet2B, REPO_ROOT } from "../../scripts/fixtures.ts";
import type { Batch, Engine } from "../engine/engine.ts";
import { LlamaEngine } from "../engine/llama/llama-engine.ts";
import { NativeEngine } from "../engine/native/native-engine.ts";
import { readHparams } from "../engine/model-file.ts";
import { openGguf } from "../gguf/reader.ts";
import { arg } from "./args.ts";

type EngineName = "native-q8" | "native" | "llama";
const ENGINES: readonly EngineName[] = ["native-q8", "native", "llama"];
type TestName = "pp128" | "pp512" | "tg128";
const TESTS: readonly TestName[] = ["pp128", "pp512", "tg128"];

interface ChildResult {
  engine: EngineName;
  loadS: number;
  /** Bytes of weights one decoded token reads (every layer matrix and the head). */
  bytesPerToken: number;
  rows: { threads: number; test: TestName; tokPerS: number }[];
  rssAfterLoadMiB: number;
  peakRssMiB: number;
  kvMiB: number;
  detail: string;
}

// ---- one engine, in a child process ----------------------------------------------------------------

function batch(n: number): Batch {
  return { n: 0, tokens: new Int32Array(n), positions: new Int32Array(n), seqIds: new Int32Array(n), wantLogits: new Uint8Array(n) };
}

/** A prompt of n tokens (BOS, then ordinary word ids) decoded in one batch; returns tok/s. */
function prefill(e: Engine, b: Batch, n: number): number {
  e.kvClear(-1);
  b.n = n;
  for (let i = 0; i < n; i++) {
    b.tokens[i] = i === 0 ? 128000 : 1000 + ((i * 7919) % 20000);
    b.positions[i] = i;
    b.seqIds[i] = 0;
    b.wantLogits[i] = i === n - 1 ? 1 : 0;
  }
  const t0 = performance.now();
  e.decode(b, "causal");
  return n / ((performance.now() - t0) / 1000);
}

/** 128 greedy tokens after a 16-token prompt, one token per decode; returns tok/s. */
function generate(e: Engine, b: Batch, n: number): number {
  prefill(e, b, 16);
  const V = e.info.nVocab;
  let next = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    b.n = 1;
    b.tokens[0] = next;
    b.positions[0] = 16 + i;
    b.seqIds[0] = 0;
    b.wantLogits[0] = 1;
    const logits = e.decode(b, "causal");
    let best = 0;
    for (let j = 1; j < V; j++) if (logits[j] > logits[best]) best = j;
    next = best;
  }
  return n / ((performance.now() - t0) / 1000);
}

/** What the llama engine reads per decoded token (layer matrices and the head) and its KV cache (F16, nCtx 1024). */
function llamaFacts(path: string): { bytesPerToken: number; kvMiB: number } {
  const f = openGguf(path);
  let bytes = 0;
  for (const t of f.tensors) if (/^blk\.\d+\..*\.weight$/.test(t.name) && t.shape.length === 2) bytes += t.byteSize;
  const hp = readHparams(f);
  return {
    bytesPerToken: bytes + (f.tensor("output.weight") ?? f.tensor("token_embd.weight"))!.byteSize,
    kvMiB: (2 * 2 * hp.nLayers * 1024 * hp.nKvHeads * hp.headDim) / 2 ** 20, // K and V
  };
}

/**
 * One engine in this process, driven by the parent over stdin/stdout, one JSON line each way: it loads,
 * answers `{"threads", "test"}` with one measurement, and `{"done": true}` with its totals. The parent
 * alternates engines between measurements, so a burst of load from other processes hits them alike.
 */
async function child(argv: string[]): Promise<void> {
  const name = arg(argv, "--child") as EngineName;
  const model = arg(argv, "--model")!;
  const threads = Number(arg(argv, "--threads") ?? 1);
  const o = { path: model, nCtx: 1024, nBatch: 512, nParallel: 1, threads };
  const t0 = performance.now();
  const e: Engine = name === "llama" ? new LlamaEngine(o) : new NativeEngine({ ...o, head: name === "native-q8" ? "q8" : "auto" });
  const loadS = (performance.now() - t0) / 1000;
  const rssAfterLoadMiB = process.memoryUsage().rss / 2 ** 20;
  const b = batch(512);
  prefill(e, b, 8); // warm-up: first-touch of buffers and pages
  const say = (x: object) => writeSync(1, `${JSON.stringify(x)}\n`);
  say({ ready: true, loadS, rssAfterLoadMiB });
  let current = threads;
  for await (const line of console) {
    const cmd = JSON.parse(line) as { threads?: number; test?: TestName; done?: boolean };
    if (cmd.done) break;
    if (cmd.threads !== current) e.setThreads((current = cmd.threads!));
    say({ tokPerS: cmd.test === "tg128" ? generate(e, b, 128) : prefill(e, b, cmd.test === "pp128" ? 128 : 512) });
  }
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  let detail = "";
  let bytesPerToken = 0; // llama: filled in by the parent
  let kvMiB = 0;
  if (e instanceof NativeEngine) {
    const st = e.loadStats;
    bytesPerToken = st.decodeBytes;
    kvMiB = st.kvBytes / 2 ** 20;
    detail = `kernels ${st.kernels}, head ${st.head}, matrices ${JSON.stringify(st.kinds)}`;
  }
  e.close();
  say({ peakRssMiB, bytesPerToken, kvMiB, detail });
}

/** A child engine process and its line protocol. */
class ChildEngine {
  private readonly proc: ReturnType<typeof Bun.spawn<"pipe", "pipe", "inherit">>;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private buffered = "";

  constructor(readonly name: EngineName, model: string, threads: number) {
    this.proc = Bun.spawn([process.execPath, import.meta.path, "--child", name, "--model", model, "--threads", String(threads)], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    this.reader = this.proc.stdout.getReader();
  }

  async read<T>(): Promise<T> {
    const decoder = new TextDecoder();
    while (!this.buffered.includes("\n")) {
      const { value, done } = await this.reader.read();
      if (done) throw new Error(`${this.name} exited (code ${await this.proc.exited})`);
      this.buffered += decoder.decode(value);
    }
    const i = this.buffered.indexOf("\n");
    const line = this.buffered.slice(0, i);
    this.buffered = this.buffered.slice(i + 1);
    return JSON.parse(line) as T;
  }

  async ask<T>(cmd: object): Promise<T> {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    this.proc.stdin.flush();
    return this.read<T>();
  }
}

// ---- the parent: model, children, table ----------------------------------------------------------------

function warmPageCache(path: string): void {
  const fd = openSync(path, "r");
  const buf = new Uint8Array(1 << 24);
  while (readSync(fd, buf) > 0);
  closeSync(fd);
}

/** The machine's DRAM read bandwidth (GB/s) by thread count (1, 2), from libternary's bench if built. */
function dramReadGBs(): Record<number, number> | null {
  const bin = join(REPO_ROOT, "build", "bin", "ternary-bench"); // published by setup
  if (!existsSync(bin)) return null;
  const p = Bun.spawnSync([bin, "0.3", "dram-read"], { stdout: "pipe", stderr: "pipe" });
  const rows = [...p.stdout.toString().matchAll(/dram-read .* (\d+)T .* (\d+\.\d+) GB\/s/g)];
  return rows.length > 0 ? Object.fromEntries(rows.map((m) => [Number(m[1]), Number(m[2])])) : null;
}

async function main(argv: string[]): Promise<void> {
  const format = (arg(argv, "--format") ?? "tq2_0") as "tq2_0" | "tq1_0" | "i2_s";
  const model = arg(argv, "--model") ?? join(REPO_ROOT, "test", "fixtures", "generated", "big", `bitnet-2b-${format}.gguf`);
  if (!existsSync(model)) {
    console.error(`[bench] generating ${model} (random weights, BitNet-2B-4T shape)`);
    generateBitnet2B(model, format);
  }
  const engines = (arg(argv, "--engines") ?? ENGINES.join(",")).split(",") as EngineName[];
  for (const e of engines) if (!ENGINES.includes(e)) throw new Error(`unknown engine ${e} (${ENGINES.join(", ")})`);
  warmPageCache(model);
  const rooflineBefore = dramReadGBs();
  const threads = (arg(argv, "--threads") ?? "1,2").split(",").map(Number);
  const tests = (arg(argv, "--tests") ?? TESTS.join(",")).split(",") as TestName[];
  const reps = Number(arg(argv, "--reps") ?? 2);
  // Loaded one after another (load time and RSS are their own), then measured in alternation.
  const children: ChildEngine[] = [];
  const results: ChildResult[] = [];
  for (const name of engines) {
    const c = new ChildEngine(name, model, threads[0]);
    const r = await c.read<{ loadS: number; rssAfterLoadMiB: number }>();
    children.push(c);
    results.push({ engine: name, loadS: r.loadS, rssAfterLoadMiB: r.rssAfterLoadMiB, bytesPerToken: 0, rows: [], peakRssMiB: 0, kvMiB: 0, detail: "" });
  }
  for (const th of threads) {
    for (const test of tests) {
      const best = new Array<number>(children.length).fill(0);
      for (let rep = 0; rep < reps; rep++) {
        for (let k = 0; k < children.length; k++) {
          const i = (k + rep) % children.length; // rotate who goes first
          const { tokPerS } = await children[i].ask<{ tokPerS: number }>({ threads: th, test });
          best[i] = Math.max(best[i], tokPerS);
        }
      }
      children.forEach((c, i) => {
        results[i].rows.push({ threads: th, test, tokPerS: best[i] });
        console.error(`[bench] ${c.name} ${th}T ${test}: ${best[i].toFixed(2)} tok/s`);
      });
    }
  }
  for (let i = 0; i < children.length; i++) {
    const t = await children[i].ask<{ peakRssMiB: number; bytesPerToken: number; kvMiB: number; detail: string }>({ done: true });
    Object.assign(results[i], t);
    if (results[i].engine === "llama") Object.assign(results[i], llamaFacts(model));
  }

  // measured before and after the engines, the better of the two: the box may have been busy at one of them
  const rooflineAfter = dramReadGBs();
  const roofline = rooflineBefore && rooflineAfter
    ? Object.fromEntries(Object.keys(rooflineAfter).map((k) => [Number(k), Math.max(rooflineAfter[Number(k)], rooflineBefore[Number(k)] ?? 0)]))
    : (rooflineAfter ?? rooflineBefore);
  const rooflineAt = (th: number) => roofline?.[th] ?? (roofline ? Math.max(...Object.values(roofline)) : null);
  const pct = (gbs: number, th: number) => (roofline ? ` (${((gbs / rooflineAt(th)!) * 100).toFixed(0)}%)` : "");
  console.log(`\nmodel ${model} (${format}), nBatch 512, best of ${arg(argv, "--reps") ?? 2}`);
  if (roofline) {
    const by = Object.entries(roofline).map(([th, g]) => `${g.toFixed(1)} GB/s at ${th}T`).join(", ");
    console.log(`DRAM read bandwidth (ternary-bench dram-read, the roofline for decode GB/s): ${by}`);
  }
  console.log("");
  console.log("| engine | threads | pp128 tok/s | pp512 tok/s | tg128 tok/s | decode GB/s (of roofline) | load s | peak RSS MiB |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    for (const th of [...new Set(r.rows.map((x) => x.threads))]) {
      const v = (t: TestName) => r.rows.find((x) => x.threads === th && x.test === t)?.tokPerS;
      const f = (x: number | undefined) => (x === undefined ? "" : x.toFixed(1));
      const tg = v("tg128");
      const gbs = tg === undefined ? "" : `${((tg * r.bytesPerToken) / 1e9).toFixed(1)}${pct((tg * r.bytesPerToken) / 1e9, th)}`;
      console.log(`| ${r.engine} | ${th} | ${f(v("pp128"))} | ${f(v("pp512"))} | ${f(tg)} | ${gbs} | ${r.loadS.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} |`);
    }
  }
  console.log("");
  for (const r of results) {
    console.log(`${r.engine}: ${(r.bytesPerToken / 1e6).toFixed(0)} MB of weights per decoded token, RSS after load ${r.rssAfterLoadMiB.toFixed(0)} MiB, KV ${r.kvMiB.toFixed(0)} MiB${r.detail ? `; ${r.detail}` : ""}`);
  }
  const base = results.find((r) => r.engine === "llama");
  if (base) {
    for (const r of results.filter((x) => x !== base)) {
      for (const x of r.rows) {
        const y = base.rows.find((b) => b.threads === x.threads && b.test === x.test);
        if (y) console.log(`${r.engine} / llama ${x.threads}T ${x.test}: ${(x.tokPerS / y.tokPerS).toFixed(2)}x`);
      }
    }
  }
  const json = arg(argv, "--json");
  if (json) writeFileSync(json, JSON.stringify({ model, format, dramReadGBs: roofline, results }, null, 1));
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  await (argv.includes("--child") ? child(argv) : main(argv));
}
