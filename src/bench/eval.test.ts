// `bun run eval` on the committed default model, a slice of the held-out set: the counts it reports are
// the exact matches of the outputs it returns, --families picks families, bad flags are clear errors.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AttentionMode, Batch } from "../engine/engine.ts";
import { FakeEngine } from "../../test/support/fake-engine.ts";
import { readEvalSet, recallProbe } from "./eval.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const EVAL = join(import.meta.dir, "eval.ts");

const run = (args: string[]) => {
  const r = Bun.spawnSync([process.execPath, EVAL, ...args], { stdout: "pipe", stderr: "pipe", cwd: ROOT });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

describe("bun run eval", () => {
  const items = readEvalSet();

  test("reports per family what its outputs show, for AR and block diffusion", () => {
    const dir = mkdtempSync(join(tmpdir(), "eval-"));
    try {
      const json = join(dir, "r.json");
      const r = run(["--engines", "native", "--families", "copy,lookup", "--limit", "60", "--show-wrong", "2", "--json", json]);
      expect(r.code).toBe(0);
      const want = items.filter((i) => i.family === "copy" || i.family === "lookup").slice(0, 60);
      const report = JSON.parse(readFileSync(json, "utf8")) as {
        items: number;
        recall: Record<string, number>;
        results: { mode: string; correct: number; total: number; outputs: string[]; byFamily: Record<string, { correct: number; total: number }>; tokensPerPass: number | null }[];
      };
      expect(report.items).toBe(60);
      expect(report.results.map((x) => x.mode)).toEqual(["ar", "dlm"]);
      for (const res of report.results) {
        expect(res.outputs.length).toBe(60);
        const right = want.map((it, i) => res.outputs[i]!.trim() === it.answer);
        expect(res.correct).toBe(right.filter(Boolean).length);
        expect(res.byFamily.copy!.total).toBe(want.filter((i) => i.family === "copy").length);
        expect(res.byFamily.lookup!.correct).toBe(want.filter((it, i) => it.family === "lookup" && right[i]).length);
        expect(Object.keys(res.byFamily).sort()).toEqual(["copy", "lookup"]);
        // the trained model copies: most of the copy slice is right in both modes
        expect(res.byFamily.copy!.correct / res.byFamily.copy!.total).toBeGreaterThan(0.8);
        // every wrong answer printed is one of the outputs, beside its prompt
        if (res.correct < 60) expect(r.out).toContain(`native ${res.mode}: ${60 - res.correct} wrong`);
      }
      expect(report.results[1]!.tokensPerPass!).toBeGreaterThan(1);
      expect(r.out).toContain("| native | ar |");
      expect(r.out).toContain(`associative recall (what lookups need; 32 trials of 6 random token pairs): native ${report.recall.native!.toFixed(3)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an unknown family or a bad flag is an error that names the choices", () => {
    const r = run(["--engines", "native", "--families", "lookups"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("--families: unknown lookups (the set has add, compare, copy, count, lookup, reverse, sub)");
    const p = run(["--engines", "native", "--parallel", "0"]);
    expect(p.code).not.toBe(0);
    expect(p.err).toContain("--parallel must be an integer");
  });
});

describe("the associative-recall probe", () => {
  test("a model with induction recalls every pair; one that only looks at the current token recalls none", () => {
    expect(recallProbe(new FakeEngine({ induction: true }))).toBe(1);
    // "previous + 1" hits only where a drawn value happens to be its key + 1 (1 in 250 pairs on average)
    expect(recallProbe(new FakeEngine())).toBeLessThan(0.05);
  });

  test("each trial: distinct random pairs, then the same pairs reordered; seeded; the cache left empty", () => {
    class Recording extends FakeEngine {
      seen: number[][] = [];
      override decode(b: Batch, attention: AttentionMode): Float32Array {
        this.seen.push([...b.tokens]);
        return super.decode(b, attention);
      }
    }
    const run = (seed: number) => {
      const e = new Recording({ induction: true });
      recallProbe(e, 5, 6, seed);
      expect(e.cache.get(0) ?? []).toEqual([]);
      return e.seen;
    };
    const seqs = run(7);
    expect(seqs.length).toBe(5);
    for (const ids of seqs) {
      expect(ids.length).toBe(24); // 6 pairs twice, no BOS in this vocabulary
      const firstHalf = ids.slice(0, 12);
      expect(new Set(firstHalf).size).toBe(12);
      const pairs = (xs: number[]) => Array.from({ length: 6 }, (_, i) => `${xs[2 * i]}:${xs[2 * i + 1]}`);
      expect(pairs(ids.slice(12)).sort()).toEqual(pairs(firstHalf).sort());
    }
    expect(run(7)).toEqual(seqs);
    expect(run(8)).not.toEqual(seqs);
  });
});
