// The C kernel suites (cpp/ternary/tests), run as part of `npm test`: every C test case becomes one
// test here, so a failing kernel shows by name. Setup builds the binaries into build/bin.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";

const bin = join(import.meta.dir, "..", "build", "bin");

function suite(name: string, args: string[]) {
  const path = join(bin, name);
  describe(`C suite ${name} ${args.join(" ")}`.trim(), () => {
    test("the binary exists (built by setup)", () => expect(existsSync(path)).toBe(true));
    if (!existsSync(path)) return;
    const r = Bun.spawnSync([path, ...args], { stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString() + r.stderr.toString();
    const cases = [...out.matchAll(/^ {2}(ok|FAIL)\s+(\S+)/gm)];
    test("exits 0 and reports its own totals with no failure", () => {
      if (r.exitCode !== 0) console.error(out);
      expect(r.exitCode).toBe(0);
      expect(out).toMatch(/^\d+ passed, 0 failed$/m);
      expect(cases.length).toBeGreaterThan(0);
    });
    for (const [, verdict, cname] of cases) {
      test(cname, () => {
        if (verdict !== "ok") console.error(out);
        expect(verdict).toBe("ok");
      });
    }
  });
}

suite("ternary-tests", []);
// The AMX kernels on emulated tiles: they run here even on CPUs without AMX.
suite("ternary-tests-amxemu", ["matmul"]);
