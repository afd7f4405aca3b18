// What one forward pass of n tokens costs, per engine, after a committed prefix: the number that decides
// whether block diffusion (n tokens per pass) can beat plain decoding (1 token per pass) on a machine.
//
//   bun src/bench/pass-cost.ts [--model FILE] [--engines native,llama] [--threads 1] [--sizes 1,8,32]
//       [--prefix 64] [--reps 200] [--head auto|q8] [--json FILE]
//
// A pass decodes n mask-free tokens at positions prefix .. prefix+n-1 of one sequence (causal for n = 1,
// block attention otherwise, as a block-diffusion pass) with logits for min(n, 8) rows (a DLM pass wants
// at most its sub-block's), then removes them from the cache again. Prints the median time per pass and
// its ratio to the 1-token pass.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine/engine.ts";
import { LlamaEngine } from "../engine/llama/llama-engine.ts";
import { NativeEngine } from "../engine/native/native-engine.ts";
import { HEAD_MODES, type HeadMode } from "../engine/native/weights.ts";
import { arg } from "./args.ts";
import { batchAt } from "./batch.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function main(argv: string[]): void {
  const model = arg(argv, "--model") ?? join(import.meta.dir, "..", "..", "models", "default.gguf");
  const engines = (arg(argv, "--engines") ?? "native,llama").split(",");
  const threads = Number(arg(argv, "--threads") ?? "1");
  const sizes = (arg(argv, "--sizes") ?? "1,8,32").split(",").map(Number);
  const prefix = Number(arg(argv, "--prefix") ?? "64");
  const reps = Number(arg(argv, "--reps") ?? "200");
  const head = (arg(argv, "--head") ?? "auto") as HeadMode;
  if (!HEAD_MODES.includes(head)) throw new Error(`--head must be one of ${HEAD_MODES.join(", ")}`);
  const maxN = Math.max(...sizes);
  const rows: { engine: string; n: number; us: number; ratio: number }[] = [];
  for (const name of engines) {
    const o = { path: model, nCtx: prefix + maxN + 16, nBatch: Math.max(prefix, maxN), nParallel: 1, threads };
    const e: Engine = name === "llama" ? new LlamaEngine(o) : new NativeEngine({ ...o, head });
    try {
      const tok = (i: number) => 300 + (i % 500); // ordinary ids of any vocabulary we ship
      e.decode(batchAt(Array.from({ length: prefix }, (_, i) => tok(i)), 0, 1), "causal");
      let one = 0;
      for (const n of sizes) {
        const b = batchAt(Array.from({ length: n }, (_, i) => tok(prefix + i)), prefix, Math.min(n, 8));
        const times: number[] = [];
        for (let r = 0; r < reps + 3; r++) {
          const t0 = performance.now();
          e.decode(b, n > 1 ? "block" : "causal");
          const dt = performance.now() - t0;
          e.kvRemove(0, prefix, -1);
          if (r >= 3) times.push(dt * 1000); // the first passes warm buffers up
        }
        const us = median(times);
        if (n === 1) one = us;
        rows.push({ engine: name, n, us, ratio: one ? us / one : NaN });
      }
    } finally {
      e.close();
    }
  }
  console.log(`model ${model}, ${threads} thread(s), prefix ${prefix}, median of ${reps}${engines.includes("native") ? `, native head ${head}` : ""}\n`);
  console.log("| engine | tokens per pass | µs per pass | × a 1-token pass |");
  console.log("|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.engine} | ${r.n} | ${r.us.toFixed(0)} | ${Number.isNaN(r.ratio) ? "" : r.ratio.toFixed(2)} |`);
  const json = arg(argv, "--json");
  if (json) writeFileSync(json, JSON.stringify({ model, threads, prefix, reps, head, rows }, null, 1));
}

if (import.meta.main) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`[pass-cost] error: ${(e as Error).message}`);
    process.exit(1);
  }
}
