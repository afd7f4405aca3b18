// Progress output: a bar redrawn in place on a terminal, one plain line per tensor otherwise.
import { describe, expect, test } from "bun:test";
import { formatBytes, Progress } from "./progress.ts";

function capture(mode: "bar" | "lines" | "none") {
  let text = "";
  const p = new Progress(3, mode, { write: (s) => void (text += s) }, 60);
  p.tick("a.weight", "bf16 [4] → f32");
  p.tick("b.weight", "u8 [8] → tq2_0");
  p.tick("c.weight", "");
  p.end();
  return text;
}

describe("progress", () => {
  test("lines when not a terminal", () => {
    expect(capture("lines")).toBe("[1/3] a.weight bf16 [4] → f32\n[2/3] b.weight u8 [8] → tq2_0\n[3/3] c.weight \n");
    expect(Progress.modeFor({ isTTY: false })).toBe("lines");
    expect(Progress.modeFor({ isTTY: true })).toBe("bar");
  });

  test("a bar redrawn with carriage returns, fitted to the width, ending with a newline", () => {
    const t = capture("bar");
    const frames = t.split("\r").filter((f) => f.length > 0);
    expect(frames.length).toBe(3);
    expect(frames[2]).toMatch(/^█{24} \[3\/3\] 100%/);
    for (const f of frames) expect(f.replace("\n", "").length).toBeLessThanOrEqual(59);
    expect(t.endsWith("\n")).toBe(true);
    expect(capture("none")).toBe("");
  });

  test("byte sizes", () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(5 * 2 ** 30)]).toEqual(["512 B", "1.50 KiB", "5.00 GiB"]);
  });
});
