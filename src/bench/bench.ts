// `bun run bench`: one run, one GGUF, one set of thread counts: our native engine, our llama engine and
// llama.cpp's own llama-bench side by side (pp128/pp512/tg128), AR and block-diffusion generation through
// the real generation code, and optionally the HTTP concurrency benchmark. Writes JSON, Markdown, SVG.
//
//   bun run bench [--quick] [--model FILE | --format tq2_0|tq1_0|i2_s] [--threads 1,2] [--reps 2]
//                 [--concurrency] [--out DIR] [--no-llama-bench]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureFixtures, generateBitnet2B, REPO_ROOT } from "../../scripts/fixtures.ts";
import { barChart, type Bar } from "./chart.ts";
import { concurrencyTable, runConcurrency, type ConcurrencyRow } from "./concurrency.ts";
import { runLlamaBench, type LlamaBenchRow } from "./llama-bench.ts";
import { arg } from "./args.ts";

interface EngineRow {
  engine: string;
  threads: number;
  test: string;
  tokPerS: number;
}

interface GenRow {
  engine: string;
  mode: "ar" | "dlm";
  threads: number;
  decodeTokPerS: number;
  prefillTokPerS: number;
  tokensPerPass: number | null;
}

function runChild(args: string[]): string {
  const p = Bun.spawnSync([process.execPath, ...args], { stdout: "pipe", stderr: "inherit", cwd: REPO_ROOT });
  if (p.exitCode !== 0) throw new Error(`${args.join(" ")} failed (exit ${p.exitCode})`);
  return p.stdout.toString();
}

/** Generation through the server's own code path (serve --benchmark), AR or DLM, in a child process. */
function generation(engine: string, model: string, threads: number, dlm: boolean, maxTokens: number, out: string): GenRow | null {
  const json = join(out, `gen-${engine}-${threads}-${dlm ? "dlm" : "ar"}.json`);
  const eng = engine.startsWith("native") ? "native" : "llama";
  const env = engine === "native-q8" ? "q8" : "";
  const args = [join(REPO_ROOT, "src", "cli.ts"), "serve", "--engine", eng, "--model", model, "--threads", String(threads), "--benchmark",
    "--benchmark-iterations", "3", "--benchmark-max-tokens", String(maxTokens), "--benchmark-json", json, ...(dlm ? ["--dlm"] : [])];
  const p = Bun.spawnSync([process.execPath, ...args], { stdout: "pipe", stderr: "pipe", cwd: REPO_ROOT, env: { ...process.env, ...(env ? { TERNARY_HEAD: env } : {}) } });
  if (p.exitCode !== 0) {
    console.error(`[bench] ${engine} ${dlm ? "DLM" : "AR"} generation skipped: ${p.stderr.toString().trim().split("\n").pop()}`);
    return null;
  }
  const r = JSON.parse(readFileSync(json, "utf8"));
  return {
    engine, mode: dlm ? "dlm" : "ar", threads,
    decodeTokPerS: r.decodeTokensPerS.median,
    prefillTokPerS: r.prefillTokensPerS.median,
    tokensPerPass: r.tokensPerPass ? r.tokensPerPass.median : null,
  };
}

async function main(argv: string[]): Promise<void> {
  const quick = argv.includes("--quick");
  const out = arg(argv, "--out") ?? join(REPO_ROOT, "bench-results");
  mkdirSync(out, { recursive: true });
  const threads = (arg(argv, "--threads") ?? (quick ? "1" : "1,2")).split(",").map(Number);
  const reps = arg(argv, "--reps") ?? (quick ? "1" : "2");
  const format = (arg(argv, "--format") ?? "tq2_0") as "tq2_0" | "tq1_0" | "i2_s";
  let model = arg(argv, "--model");
  if (!model) {
    if (quick) model = ensureFixtures().paths.bitnet[format];
    else {
      model = join(REPO_ROOT, "test", "fixtures", "generated", "big", `bitnet-2b-${format}.gguf`);
      if (!existsSync(model)) {
        console.error(`[bench] generating ${model} (random weights, BitNet-2B-4T shape, ~1.2 GB)`);
        generateBitnet2B(model, format);
      }
    }
  }
  const tests = quick ? ["pp128", "tg128"] : ["pp128", "pp512", "tg128"];
  const t0 = performance.now();

  // 1. Engines in-process, each in its own child (its own RSS), same file and thread counts.
  const nvl = join(out, "engines.json");
  runChild([join(REPO_ROOT, "src", "bench", "native-vs-llama.ts"), "--model", model, "--threads", threads.join(","), "--reps", reps,
    "--tests", tests.join(","), "--json", nvl]);
  const engines = JSON.parse(readFileSync(nvl, "utf8")) as { results: { engine: string; rows: { threads: number; test: string; tokPerS: number }[]; loadS: number; peakRssMiB: number }[] };
  const rows: EngineRow[] = engines.results.flatMap((r) => r.rows.map((x) => ({ engine: r.engine, threads: x.threads, test: x.test, tokPerS: x.tokPerS })));

  // 2. llama.cpp's own llama-bench on the same file.
  let lb: LlamaBenchRow[] = [];
  if (!argv.includes("--no-llama-bench")) {
    try {
      lb = runLlamaBench(model, threads, tests, Number(reps));
      rows.push(...lb.map((x) => ({ engine: "llama-bench", ...x })));
    } catch (e) {
      console.error(`[bench] llama-bench skipped: ${(e as Error).message}`);
    }
  }

  // 3. Generation through the server's code path: AR, and DLM when the model has a mask token.
  const gen: GenRow[] = [];
  for (const th of threads) {
    for (const engine of ["native", "llama"]) {
      for (const dlm of [false, true]) {
        const g = generation(engine, model, th, dlm, quick ? 32 : 128, out);
        if (g) gen.push(g);
      }
    }
  }

  // 4. Concurrency through HTTP.
  let conc: ConcurrencyRow[] = [];
  if (argv.includes("--concurrency")) {
    conc = await runConcurrency({
      engine: "native", model, threads: threads[threads.length - 1], parallel: [1, 8], clients: quick ? [1, 4] : [1, 4, 16],
      requestsPerClient: quick ? 1 : 2, maxTokens: quick ? 16 : 64, ctx: 1024,
    });
  }

  // Reports.
  const md: string[] = [`# Benchmark`, "", `model: \`${model}\`; threads: ${threads.join(", ")}; ${new Date().toISOString()}`, ""];
  md.push("| engine | threads | " + tests.join(" tok/s | ") + " tok/s |", "|---|---|" + tests.map(() => "---|").join(""));
  for (const e of [...new Set(rows.map((r) => r.engine))]) {
    for (const th of threads) {
      const cells = tests.map((t) => rows.find((r) => r.engine === e && r.threads === th && r.test === t)?.tokPerS.toFixed(1) ?? "");
      md.push(`| ${e} | ${th} | ${cells.join(" | ")} |`);
    }
  }
  if (gen.length) {
    md.push("", "Generation through the server's scheduler (`serve --benchmark`, median of 3):", "");
    md.push("| engine | mode | threads | prefill tok/s | decode tok/s | tokens per pass |", "|---|---|---|---|---|---|");
    for (const g of gen) md.push(`| ${g.engine} | ${g.mode} | ${g.threads} | ${g.prefillTokPerS.toFixed(1)} | ${g.decodeTokPerS.toFixed(1)} | ${g.tokensPerPass?.toFixed(2) ?? "1"} |`);
  }
  if (conc.length) md.push("", "Concurrency through HTTP (native engine):", "", concurrencyTable(conc));
  const bars: Bar[] = rows.map((r) => ({ group: `${r.test} ${r.threads}T`, series: r.engine, value: r.tokPerS }));
  writeFileSync(join(out, "bench.md"), md.join("\n") + "\n");
  writeFileSync(join(out, "bench.svg"), barChart("tokens/s per engine and phase", "tokens/s", bars));
  writeFileSync(join(out, "bench.json"), JSON.stringify({ model, threads, tests, engines: engines.results, llamaBench: lb, generation: gen, concurrency: conc }, null, 1));
  console.log(md.join("\n"));
  console.error(`\n[bench] wrote ${join(out, "bench.{json,md,svg}")} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`[bench] error: ${e.message}`);
    process.exit(1);
  });
}
