// The single-file executable: built by scripts/build.ts, copied alone into an empty directory, run from
// there against a fixture model (no Bun, no checkout beside it), and driven with the openai client.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { build } from "../scripts/build.ts";
import { ensureFixtures } from "../scripts/fixtures.ts";

let dir: string;
let exe: string;
let proc: ReturnType<typeof Bun.spawn> | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternary-exe-"));
  exe = join(dir, "ternary-serve");
  copyFileSync(await build(), exe);
});
afterAll(() => {
  proc?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the executable from its own directory with a PATH and environment that hold no Bun. */
function run(args: string[]) {
  return Bun.spawn([exe, ...args], { cwd: dir, env: { PATH: "/usr/bin:/bin", HOME: dir, TMPDIR: dir }, stdout: "pipe", stderr: "pipe" });
}

test("--help works without Bun or the checkout", async () => {
  const p = run(["serve", "--help"]);
  expect(await p.exited).toBe(0);
  expect(await new Response(p.stdout).text()).toContain("--engine");
  const c = run(["convert", "--help"]);
  await c.exited;
  expect((await new Response(c.stdout).text()) + (await new Response(c.stderr).text())).toContain("--outtype");
});

test("serves a fixture model to the openai client, plain and streaming", async () => {
  proc = run(["serve", "--engine", "llama", "--model", ensureFixtures().paths.bitnet.tq2_0, "--port", "0", "--threads", "1", "--ctx", "512"]);
  let log = "";
  const dec = new TextDecoder();
  const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let url = "";
  const deadline = Date.now() + 60_000;
  while (!url && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    log += dec.decode(value);
    url = log.match(/listening on (http:\/\/\S+)/)?.[1] ?? "";
  }
  expect(url).not.toBe("");
  while (Date.now() < deadline && (await fetch(`${url}/ready`).then((r) => r.status).catch(() => 0)) !== 200) await Bun.sleep(100);
  const client = new OpenAI({ apiKey: "x", baseURL: `${url}/v1`, maxRetries: 0 });
  const id = (await client.models.list()).data[0].id;
  const r = await client.completions.create({ model: id, prompt: "Hello", max_tokens: 8, temperature: 0 });
  expect(r.usage?.completion_tokens).toBeGreaterThan(0);
  const s = await client.chat.completions.create({ model: id, messages: [{ role: "user", content: "Hi" }], max_tokens: 6, stream: true });
  let n = 0;
  for await (const c of s) n += c.choices[0]?.delta?.content ? 1 : 0;
  expect(n).toBeGreaterThan(0);
  // The chat page is embedded too.
  expect(await (await fetch(`${url}/`)).text()).toContain("<html");
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
  proc = null;
});
