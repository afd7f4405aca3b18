// A corpus of broken model files (hundreds of deterministic mutants of the micro fixture): every one
// is either rejected by validateModelFile with an EngineError, or loaded and served by llama.cpp.
//
// llama.cpp aborts the whole process on some malformed files, so loads run in child processes
// (test/support/load-models.ts), one per batch; a path without a result line is a file that killed it.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureMicroFixture } from "../scripts/fixtures.ts";
import { EngineError } from "../src/engine/errors.ts";
import { validateModelFile } from "../src/engine/model-file.ts";
import type { LoadResult } from "./support/load-models.ts";
import { semanticMutants, structuralMutants, type Mutant } from "./support/model-mutants.ts";

const SEED = 20240601;
const BATCH = 48;
const BATCH_TIMEOUT_MS = 30_000; // a batch takes about a second
const LOADER = resolve(import.meta.dir, "support", "load-models.ts");

/**
 * Files our validation accepts and llama.cpp refuses cleanly (an error, not an abort): known gaps,
 * listed so that a new one fails the test and gets a decision.
 * - an unknown tokenizer.ggml.pre: llama.cpp's list of pre-tokenizers is long and grows;
 * - output.weight (untied head) and rope_freqs.weight: valid for the other engine, but llama.cpp's
 *   bitnet graph loads neither, so it counts one tensor too many.
 */
const KNOWN_REFUSALS = ["sem-tokenizer-pre-unknown", "sem-tensor-output-untied", "sem-tensor-rope-freqs-wrong-shape"];

const dir = mkdtempSync(join(tmpdir(), "model-corpus-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Crash { path: string; why: string }

/**
 * Runs the loader over `paths` in batches; when a child dies, the first path without a result is
 * recorded as a crash and a fresh child takes the rest, so one run names every file that crashes.
 */
async function loadAll(paths: string[]): Promise<{ results: Map<string, LoadResult>; crashes: Crash[]; children: number }> {
  const results = new Map<string, LoadResult>();
  const crashes: Crash[] = [];
  let children = 0;
  let todo = paths;
  while (todo.length > 0) {
    const batch = todo.slice(0, BATCH);
    children++;
    const started = performance.now();
    const child = Bun.spawn([process.execPath, LOADER], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      // A file that makes llama.cpp loop forever is a crash too; ggml's backtrace (gdb) only slows an abort.
      timeout: BATCH_TIMEOUT_MS,
      env: { ...process.env, GGML_NO_BACKTRACE: "1" },
    });
    child.stdin.write(batch.join("\n"));
    await child.stdin.end();
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    for (const line of out.split("\n")) {
      if (line.trim() === "") continue;
      const r = JSON.parse(line) as LoadResult;
      results.set(r.path, r);
    }
    const missing = batch.findIndex((p) => !results.has(p));
    if (missing < 0 && code === 0) {
      todo = todo.slice(batch.length);
      continue;
    }
    // The child died: on the first file without a line, or (every line written) on its way out.
    const at = missing < 0 ? batch.length - 1 : missing;
    // ggml's abort message ("ops.cpp:6126: GGML_ASSERT(...) failed") says why; Bun's crash banner does not.
    const hung = performance.now() - started >= BATCH_TIMEOUT_MS;
    const why = hung ? `hung, killed after ${BATCH_TIMEOUT_MS / 1000} s` : (err.match(/\S+\.(?:c|cpp|h):\d+: .*/)?.[0] ?? err.trim().split("\n").slice(-3).join(" | "));
    crashes.push({ path: batch[at], why: `exit ${code}${child.signalCode ? ` (${child.signalCode})` : ""}: ${why}` });
    todo = todo.slice(at + 1);
  }
  return { results, crashes, children };
}

/** The end of llama.cpp's message, past the paths it repeats. */
function reason(r: LoadResult): string {
  return (r.error ?? "").split("error loading model: ").pop()!.slice(0, 160);
}

describe("bad-input model corpus", () => {
  test("every mutant of the micro fixture is rejected by validation or served", async () => {
    const t0 = performance.now();
    const good = new Uint8Array(await Bun.file(ensureMicroFixture()).arrayBuffer());
    const mutants: Mutant[] = [...semanticMutants(good), ...structuralMutants(good, SEED)];
    const names = new Set(mutants.map((m) => m.name));
    expect(names.size).toBe(mutants.length);
    expect(mutants.length).toBeGreaterThanOrEqual(200);
    const pathOf = new Map<string, string>();
    mutants.forEach((m, i) => {
      const p = join(dir, `${String(i).padStart(3, "0")}-${m.name}.gguf`);
      writeFileSync(p, m.bytes);
      pathOf.set(m.name, p);
    });
    const tWrite = performance.now();

    // 1. Our validation, in this process: an EngineError or nothing, never another error.
    const rejected = new Map<string, string>();
    const wrongErrors: string[] = [];
    const accepted: string[] = [];
    for (const m of mutants) {
      try {
        validateModelFile(pathOf.get(m.name)!);
        accepted.push(m.name);
      } catch (e) {
        if (e instanceof EngineError && e.kind === "invalid_request") rejected.set(m.name, e.message);
        else wrongErrors.push(`${m.name}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
      }
    }
    expect(wrongErrors).toEqual([]);
    const tValidate = performance.now();

    // 2. What validation let through, loaded and served by llama.cpp in child processes.
    const { results, crashes, children } = await loadAll(accepted.map((n) => pathOf.get(n)!));
    const tLoad = performance.now();
    const nameOf = new Map([...pathOf].map(([n, p]) => [p, n]));
    const served: string[] = [];
    const refused: string[] = [];
    const badErrors: string[] = [];
    for (const [path, r] of results) {
      const name = nameOf.get(path)!;
      if (r.ok) served.push(name);
      else if (r.errorType === "EngineError" || r.errorType === "NativeError") refused.push(name);
      else badErrors.push(`${name}: ${r.errorType}: ${r.error}`);
    }

    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `model corpus: ${mutants.length} mutants (${mutants.filter((m) => m.name.startsWith("sem-")).length} semantic)` +
        `\n  rejected by validation: ${rejected.size}` +
        `\n  loaded and served:      ${served.length}` +
        `\n  refused by llama.cpp:   ${refused.length}${refused.map((n) => `\n    ${n}: ${reason(results.get(pathOf.get(n)!)!)}`).join("")}` +
        `\n  crashed llama.cpp:      ${crashes.length}${crashes.map((c) => `\n    ${nameOf.get(c.path)}: ${c.why}`).join("")}` +
        `\n  time: write ${s(tWrite - t0)}, validate ${s(tValidate - tWrite)}, load ${s(tLoad - tValidate)} in ${children} child processes`,
    );

    expect(crashes.map((c) => nameOf.get(c.path))).toEqual([]);
    expect(badErrors).toEqual([]);
    expect(refused.filter((n) => !KNOWN_REFUSALS.includes(n))).toEqual([]);
    expect(results.size).toBe(accepted.length);
    // The control files really are served (the harness would otherwise pass on a loader that refuses everything).
    for (const n of ["sem-original", "sem-alignment-64", "sem-arch-bitnet-25-renamed", "sem-tensor-weight-f16"]) expect(served).toContain(n);
    for (const n of served) {
      const r = results.get(pathOf.get(n)!)!;
      expect(r.tokens!.length).toBeGreaterThan(4);
    }
  }, 120_000);
});
