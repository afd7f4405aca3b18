// llama.cpp's own `llama-bench` (built for this CPU by `setup --features tools`), run on the same GGUF
// and thread count as our engines: the outside yardstick in `bun run bench`.
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
export const LLAMA_BENCH = join(root, "build", "tools", "llama-bench");

export interface LlamaBenchRow {
  threads: number;
  test: string; // pp128, pp512, tg128
  tokPerS: number;
}

/** Runs llama-bench once per thread count; `tests` like pp128, pp512, tg128. Throws with its output on failure. */
export function runLlamaBench(model: string, threads: number[], tests: string[], reps = 2): LlamaBenchRow[] {
  if (!existsSync(LLAMA_BENCH)) throw new Error(`${LLAMA_BENCH} is missing: run \`npm run setup -- --features tools\``);
  const pp = tests.filter((t) => t.startsWith("pp")).map((t) => t.slice(2));
  const tg = tests.filter((t) => t.startsWith("tg")).map((t) => t.slice(2));
  const args = [LLAMA_BENCH, "-m", model, "-t", threads.join(","), "-r", String(reps), "-o", "json",
    "-p", pp.length ? pp.join(",") : "0", "-n", tg.length ? tg.join(",") : "0"];
  const r = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`llama-bench failed (${r.exitCode}): ${r.stderr.toString().slice(-2000)}`);
  const rows = JSON.parse(r.stdout.toString()) as { n_prompt: number; n_gen: number; n_threads: number; avg_ts: number }[];
  return rows
    .filter((x) => x.n_prompt > 0 || x.n_gen > 0)
    .map((x) => ({ threads: x.n_threads, test: x.n_prompt > 0 ? `pp${x.n_prompt}` : `tg${x.n_gen}`, tokPerS: x.avg_ts }));
}
