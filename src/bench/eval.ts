// `bun run eval`: exact-match accuracy and speed of a model on the held-out task set
// (scripts/train/eval-set.jsonl), per engine, for plain decoding and block diffusion.
//
//   bun run eval [--model FILE] [--engines native,llama] [--families a,b] [--limit N] [--threads N]
//                [--parallel N] [--show-wrong N] [--json FILE] [--dlm-threshold 0.9] [--dlm-block-size 32] [--dlm-sub-block-size 8]
//                [--dlm-lookahead true|false]
//
// --parallel (default 1) is how many requests run at once. One at a time, tokens/s is what one user
// sees, the figure block diffusion is meant to raise; with several, plain decoding batches across them too.
// --show-wrong N prints up to N wrong answers per engine and mode; --json also holds every output.
// Generation tokens/s leaves out each prompt's prefill (its timings' generationMs); end-to-end includes it.
// Each engine also gets the associative-recall probe (recallProbe), the mechanism the lookup family needs.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { needsBos, renderChat } from "../chat/template.ts";
import type { Engine } from "../engine/engine.ts";
import { openEngine } from "../engine/open.ts";
import type { Job, JobEvent } from "../engine/protocol.ts";
import { Scheduler } from "../engine/scheduler.ts";
import { DLM_DEFAULTS, resolveDlm } from "../generate/dlm-config.ts";
import { defaultSampling } from "../generate/sampler.ts";
import { Rng } from "../generate/rng.ts";
import { arg } from "./args.ts";
import { batchAt } from "./batch.ts";

const root = join(import.meta.dir, "..", "..");

export interface Item {
  family: string;
  prompt: string;
  answer: string;
}

/** The held-out task set, scripts/train/eval-set.jsonl (never trained on). */
export function readEvalSet(): Item[] {
  return readFileSync(join(root, "scripts", "train", "eval-set.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Item);
}

/**
 * Associative recall, the mechanism a lookup needs (induction): per trial, BOS, `pairs` (key, value)
 * pairs of distinct random ordinary tokens, then the same pairs in another order; returns the fraction
 * of second-half values that are the argmax right after their key. A model that only copies by
 * position scores about 0; one with induction heads recalls most pairs. Uses sequence 0.
 */
export function recallProbe(engine: Engine, trials = 32, pairs = 6, seed = 0): number {
  const { nVocab: V, bos, maskToken } = engine.info;
  const ordinary: number[] = [];
  for (let t = 0; t < V; t++) {
    if (t !== bos && t !== maskToken && !engine.isEog(t) && engine.tokenBytes(t, false).length > 0) ordinary.push(t);
  }
  const rng = new Rng(seed);
  const below = (n: number) => Math.floor(rng.nextFloat() * n);
  let hits = 0;
  for (let trial = 0; trial < trials; trial++) {
    for (let i = 0; i < 2 * pairs; i++) {
      const j = i + below(ordinary.length - i); // partial Fisher-Yates: ordinary[0, 2·pairs) are the draw
      [ordinary[i], ordinary[j]] = [ordinary[j]!, ordinary[i]!];
    }
    const order = Array.from({ length: pairs }, (_, i) => i);
    for (let i = pairs - 1; i > 0; i--) {
      const j = below(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const pair = (i: number) => [ordinary[i]!, ordinary[pairs + i]!];
    const head = bos === null ? [] : [bos];
    const ids = [...head, ...Array.from({ length: pairs }, (_, i) => pair(i)).flat(), ...order.map(pair).flat()];
    engine.kvClear(0);
    const logits = engine.decode(batchAt(ids, 0, ids.length), "causal");
    engine.kvClear(0);
    const first = head.length + 2 * pairs; // the second half's first key
    for (let k = 0; k < pairs; k++) {
      const row = logits.subarray((first + 2 * k) * V, (first + 2 * k + 1) * V);
      let best = 0;
      for (let t = 1; t < V; t++) if (row[t]! > row[best]!) best = t;
      if (best === ids[first + 2 * k + 1]) hits++;
    }
  }
  return hits / (trials * pairs);
}

interface RunResult {
  engine: string;
  mode: "ar" | "dlm";
  correct: number;
  total: number;
  byFamily: Record<string, { correct: number; total: number }>;
  tokens: number;
  seconds: number;
  tokensPerS: number;
  /** Each item's output, in the order of the items. */
  outputs: string[];
  /** Completion tokens over the summed generation time of the requests (after their prompts). */
  generationTokensPerS: number;
  tokensPerPass: number | null;
}

/** Runs every item through the real scheduler (the engine's nSeqMax requests at a time), greedy. */
function runAll(engine: Engine, items: Item[], dlm: Job["dlm"]): { outputs: string[]; tokens: number; passes: number; seconds: number; generationS: number } {
  const info = engine.info;
  const outputs = items.map(() => "");
  let tokens = 0;
  let passes = 0;
  let generationMs = 0;
  const s = new Scheduler(engine, { nParallel: info.nSeqMax, queueLimit: items.length + 1, queueTimeoutMs: 3_600_000 }, (id, e: JobEvent) => {
    if (e.type === "text") outputs[id] += e.text;
    if (e.type === "done") {
      tokens += e.usage.completionTokens;
      passes += e.timings.forwardPasses ?? e.usage.completionTokens;
      generationMs += e.timings.generationMs;
    }
    if (e.type === "error") throw new Error(e.error.message);
  });
  const t0 = performance.now();
  items.forEach((it, i) => {
    const text = renderChat(info.chatTemplate, [{ role: "user", content: it.prompt }], {
      bosToken: info.bosText,
      eosToken: info.eosText,
      addGenerationPrompt: true,
    });
    s.submit(i, {
      prompt: { text, addSpecial: needsBos(text, info), parseSpecial: true },
      maxTokens: 96,
      stop: [],
      sampling: { ...defaultSampling, temperature: 0 },
      logprobs: null,
      dlm,
      ignoreEos: false,
    });
  });
  while (!s.idle) s.step();
  return { outputs, tokens, passes, seconds: (performance.now() - t0) / 1000, generationS: generationMs / 1000 };
}

/** Exact match, ignoring surrounding white space. */
const exact = (output: string, it: Item): boolean => output.trim() === it.answer.trim();

async function main(argv: string[]): Promise<void> {
  const model = arg(argv, "--model") ?? join(root, "models", "default.gguf");
  const all = readEvalSet();
  const known = [...new Set(all.map((i) => i.family))];
  const wanted = arg(argv, "--families")?.split(",").map((f) => f.trim()) ?? known;
  const unknown = wanted.filter((f) => !known.includes(f));
  if (unknown.length) throw new Error(`--families: unknown ${unknown.join(", ")} (the set has ${known.join(", ")})`);
  const items = all.filter((i) => wanted.includes(i.family)).slice(0, Number(arg(argv, "--limit") ?? "100000"));
  const showWrong = Number(arg(argv, "--show-wrong") ?? "0");
  const engines = (arg(argv, "--engines") ?? "native,llama").split(",") as ("native" | "llama")[];
  const threads = Number(arg(argv, "--threads") ?? "1");
  const parallel = Number(arg(argv, "--parallel") ?? "1");
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) throw new Error(`--parallel must be an integer in [1, 64], got ${arg(argv, "--parallel")}`);
  const look = arg(argv, "--dlm-lookahead") ?? String(DLM_DEFAULTS.lookahead);
  if (look !== "true" && look !== "false") throw new Error(`--dlm-lookahead must be true or false, got ${look}`);
  const lookahead = look === "true";
  const results: RunResult[] = [];
  const recall: Record<string, number> = {};
  for (const name of engines) {
    const engine = openEngine({ engine: name, model, nCtx: 512, nBatch: 512, nParallel: parallel, threads, queueLimit: 1, queueTimeoutMs: 1 });
    try {
      const dlmCfg = {
        ...DLM_DEFAULTS,
        threshold: Number(arg(argv, "--dlm-threshold") ?? DLM_DEFAULTS.threshold),
        blockSize: Number(arg(argv, "--dlm-block-size") ?? DLM_DEFAULTS.blockSize),
        subBlockSize: Number(arg(argv, "--dlm-sub-block-size") ?? DLM_DEFAULTS.subBlockSize),
        lookahead,
      };
      const modes: ["ar" | "dlm", Job["dlm"]][] = [["ar", null]];
      if (engine.info.maskToken !== null) modes.push(["dlm", resolveDlm(dlmCfg, engine.info)]);
      else console.error(`[eval] ${name}: the model has no mask token, block diffusion skipped`);
      for (const [mode, dlm] of modes) {
        const r = runAll(engine, items, dlm);
        const byFamily: RunResult["byFamily"] = {};
        let correct = 0;
        items.forEach((it, i) => {
          const ok = exact(r.outputs[i]!, it);
          byFamily[it.family] ??= { correct: 0, total: 0 };
          byFamily[it.family].total++;
          if (ok) {
            byFamily[it.family].correct++;
            correct++;
          }
        });
        results.push({
          engine: name, mode, correct, total: items.length, byFamily, outputs: r.outputs, tokens: r.tokens, seconds: r.seconds,
          tokensPerS: r.tokens / r.seconds, generationTokensPerS: r.tokens / Math.max(1e-9, r.generationS), tokensPerPass: mode === "dlm" ? r.tokens / Math.max(1, r.passes) : null,
        });
      }
      recall[name] = recallProbe(engine);
    } finally {
      engine.close();
    }
  }
  const families = [...new Set(items.map((i) => i.family))];
  const lines = [
    `model ${model}, ${items.length} held-out items, greedy, ${threads} thread(s), ${parallel} request(s) at a time, DLM lookahead ${lookahead ? "on" : "off"}`,
    "",
    `| engine | mode | exact match | ${families.join(" | ")} | generation tokens/s | end-to-end tokens/s | tokens/pass |`,
    `|---|---|---|${families.map(() => "---|").join("")}---|---|---|`,
    ...results.map(
      (r) =>
        `| ${r.engine} | ${r.mode} | ${((100 * r.correct) / r.total).toFixed(1)}% | ` +
        families.map((f) => `${((100 * r.byFamily[f].correct) / r.byFamily[f].total).toFixed(0)}%`).join(" | ") +
        ` | ${r.generationTokensPerS.toFixed(0)} | ${r.tokensPerS.toFixed(0)} | ${r.tokensPerPass?.toFixed(2) ?? "1"} |`,
    ),
  ];
  lines.push("", `associative recall (what lookups need; 32 trials of 6 random token pairs): ${engines.map((e) => `${e} ${recall[e]!.toFixed(3)}`).join(", ")}`);
  console.log(lines.join("\n"));
  for (const r of showWrong > 0 ? results : []) {
    const wrong = items.map((it, i) => [it, r.outputs[i]!] as const).filter(([it, out]) => !exact(out, it));
    console.log(`\n${r.engine} ${r.mode}: ${wrong.length} wrong` + (wrong.length > showWrong ? `, first ${showWrong}` : ""));
    for (const [it, out] of wrong.slice(0, showWrong)) console.log(`  ${JSON.stringify(it.prompt)} -> ${JSON.stringify(out)} (want ${JSON.stringify(it.answer)})`);
  }
  const json = arg(argv, "--json");
  if (json) writeFileSync(json, JSON.stringify({ model, items: items.length, results, recall }, null, 1));
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`[eval] error: ${e.message}`);
    process.exit(1);
  });
}
