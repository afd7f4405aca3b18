// The bad-input corpus (hundreds of deterministic mutants of the micro fixture) through the native engine:
// each file validation lets through is served, or refused with an EngineError naming the problem; none
// may crash the process (loads run in child processes, which would show a crash) or raise anything else.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureMicroFixture } from "../scripts/fixtures.ts";
import { validateModelFile } from "../src/engine/model-file.ts";
import type { LoadResult } from "./support/load-models.ts";
import { semanticMutants, structuralMutants } from "./support/model-mutants.ts";

const SEED = 20240601;
const LOADER = resolve(import.meta.dir, "support", "load-models.ts");
const dir = mkdtempSync(join(tmpdir(), "native-corpus-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bad-input model corpus, native engine", () => {
  test("every mutant validation accepts is served by the native engine or refused with an EngineError", async () => {
    const good = new Uint8Array(readFileSync(ensureMicroFixture()));
    const mutants = [...semanticMutants(good), ...structuralMutants(good, SEED)];
    const accepted: string[] = [];
    mutants.forEach((m, i) => {
      const p = join(dir, `${String(i).padStart(3, "0")}-${m.name}.gguf`);
      writeFileSync(p, m.bytes);
      try {
        validateModelFile(p);
        accepted.push(p);
      } catch {
        // rejected before any engine: model-corpus.test.ts checks those errors
      }
    });
    const child = Bun.spawn([process.execPath, LOADER, "--engine", "native"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", timeout: 90_000 });
    child.stdin.write(accepted.join("\n"));
    await child.stdin.end();
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    const results = out.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as LoadResult);
    const name = (p: string) => p.slice(dir.length + 5, -5);
    const served = results.filter((r) => r.ok).map((r) => name(r.path));
    const refused = results.filter((r) => !r.ok && r.errorType === "EngineError");
    const other = results.filter((r) => !r.ok && r.errorType !== "EngineError").map((r) => `${name(r.path)}: ${r.errorType}: ${r.error}`);
    console.log(
      `native corpus: ${mutants.length} mutants, ${accepted.length} pass validation: ${served.length} served, ${refused.length} refused` +
        refused.map((r) => `\n    ${name(r.path)}: ${r.error?.slice(0, 160)}`).join(""),
    );
    expect({ code, crashedAt: results.length < accepted.length ? accepted[results.length] : null, err: code === 0 ? "" : err.slice(-500) }).toEqual({ code: 0, crashedAt: null, err: "" });
    expect(other).toEqual([]);
    // untied heads and BF16/F16 weights are native features (llama.cpp's bitnet graph refuses an output.weight)
    for (const n of ["sem-original", "sem-alignment-64", "sem-tensor-output-untied", "sem-tensor-weight-f16"]) expect(served).toContain(n);
    for (const r of results.filter((x) => x.ok)) expect(r.tokens!.length).toBeGreaterThan(4);
  }, 120_000);
});
