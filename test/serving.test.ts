// Production serving on the real server process (llama engine, tiny fixture): many concurrent streams
// with independent greedy outputs, clients that vanish mid-stream, and a corpus of bad requests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ensureFixtures } from "../scripts/fixtures.ts";
import { startServer, type RunningServer } from "./support/server-process.ts";

const fx = ensureFixtures();
let server: RunningServer;
let client: OpenAI;
let id: string;

beforeAll(async () => {
  server = await startServer([
    "--engine", "llama", "--model", fx.paths.bitnet.tq2_0, "--ctx", "512", "--parallel", "8", "--threads", "1",
    "--queue", "256", "--max-tokens", "16",
  ]);
  client = new OpenAI({ apiKey: "none", baseURL: `${server.url}/v1`, maxRetries: 0 });
  id = (await client.models.list()).data[0].id;
});
afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, "m"));
  if (!m) throw new Error(`metric ${name} missing`);
  return Number(m[1]);
}

async function streamText(prompt: string, max: number): Promise<string> {
  const s = await client.completions.create({ model: id, prompt, max_tokens: max, temperature: 0, ignore_eos: true, stream: true } as never);
  let text = "";
  for await (const c of s as unknown as AsyncIterable<OpenAI.Completion>) text += c.choices[0]?.text ?? "";
  return text;
}

describe("serving under load", () => {
  test("32 concurrent streaming clients get exactly their solo greedy outputs", async () => {
    const prompts = Array.from({ length: 32 }, (_, i) => `Story number ${i}: once upon a time`);
    const solo: string[] = [];
    for (const p of prompts.slice(0, 8)) solo.push(await streamText(p, 12));
    const together = await Promise.all(prompts.map((p) => streamText(p, 12)));
    for (let i = 0; i < 8; i++) expect(together[i]).toBe(solo[i]);
    // Distinct prompts give (mostly) distinct texts: outputs are not shared between sequences.
    expect(new Set(together).size).toBeGreaterThan(16);
    expect(await metric("ternary_busy_sequences")).toBe(0);
  });

  test("200 clients that disconnect mid-stream leave no busy sequence and bounded memory", async () => {
    const rssBefore = Number((await Bun.$`ps -o rss= -p ${server.proc.pid}`.text()).trim());
    const one = async () => {
      const ac = new AbortController();
      const r = await fetch(`${server.url}/v1/completions`, {
        method: "POST",
        body: JSON.stringify({ prompt: "Tell me everything", max_tokens: 200, temperature: 0, ignore_eos: true, stream: true }),
        signal: ac.signal,
      });
      const reader = r.body!.getReader();
      await reader.read(); // the opening chunk: the job is running
      ac.abort();
      await reader.cancel().catch(() => {});
    };
    for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 20 }, one));
    // Cancellation lands at the next decode step of each sequence.
    for (let i = 0; i < 100 && (await metric("ternary_busy_sequences")) + (await metric("ternary_queue_depth")) > 0; i++) await Bun.sleep(50);
    expect(await metric("ternary_busy_sequences")).toBe(0);
    expect(await metric("ternary_queue_depth")).toBe(0);
    const rssAfter = Number((await Bun.$`ps -o rss= -p ${server.proc.pid}`.text()).trim());
    // Stated bound: 200 abandoned streams may not grow the server by more than 64 MiB.
    expect(rssAfter - rssBefore).toBeLessThan(64 * 1024);
    // And it still serves.
    expect((await streamText("after the storm", 4)).length).toBeGreaterThan(0);
  });
});

describe("bad requests", () => {
  const cases: { name: string; path?: string; body: string | Uint8Array; status?: number; headers?: Record<string, string> }[] = [];
  const chat = (b: unknown) => JSON.stringify(b);
  const msg = [{ role: "user", content: "hi" }];
  // Wrong types for every field.
  const fields: Record<string, unknown[]> = {
    max_tokens: ["10", -1, 0, 1.5, 1e12, null === null ? [] : 0, {}],
    temperature: ["hot", -0.1, 2.5, [], {}],
    top_p: [0, -1, 1.5, "x"],
    top_k: [-5, 1.5, "k"],
    min_p: [-0.1, 2, "m"],
    presence_penalty: [3, -3, "p"],
    frequency_penalty: [3, -3, true],
    repeat_penalty: [0, -1, "r"],
    seed: ["s", 1.5, 2 ** 60],
    stop: [5, [1, 2], "", [""], Array.from({ length: 20 }, () => "x")],
    stream: ["yes", 1],
    n: [0, 17, "2", 1.5],
    logit_bias: [{ abc: 1 }, { "5": 500 }, [1]],
    logprobs: ["yes"],
    top_logprobs: [-1, 21, "x"],
    model: [5, "nope-model"],
    dlm: ["fast", { block_size: 0 }, { threshold: -1 }, { mode: "wild" }, { lookahead: "no" }, true],
    user: [5, "u".repeat(1000)],
    stream_options: ["x", { include_usage: "yes" }],
    ignore_eos: ["no"],
    max_completion_tokens: [-1, "many"],
  };
  for (const [field, values] of Object.entries(fields)) {
    for (const v of values) cases.push({ name: `${field}=${JSON.stringify(v)}`, body: chat({ messages: msg, [field]: v }) });
  }
  const messages: unknown[] = [[], "hi", [{}], [{ role: "wizard", content: "x" }], [{ role: "user", content: 5 }], [{ role: "user", content: [{ type: "image", url: "x" }] }], [{ content: "no role" }], null, {}, [{ role: "user", content: [] }]];
  for (const m of messages) cases.push({ name: `messages=${JSON.stringify(m)}`, body: chat({ messages: m }) });
  const raw: [string, string | Uint8Array][] = [
    ["empty body", ""], ["not json", "{oops"], ["json array", "[1,2]"], ["json string", '"hi"'], ["json number", "42"], ["null", "null"],
    ["truncated", '{"messages":[{"role":"user","content":"hi"'], ["invalid utf-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ["deep nesting", "[".repeat(5000) + "]".repeat(5000)], ["huge number", '{"messages":[{"role":"user","content":"x"}],"max_tokens":1e400}'],
    ["prompt too long", chat({ messages: [{ role: "user", content: "word ".repeat(3000) }] })],
  ];
  for (const [name, body] of raw) cases.push({ name, body });
  cases.push({ name: "oversized body", body: chat({ messages: [{ role: "user", content: "x".repeat(5 << 20) }] }), status: 413 });
  // Completions and tokenizer routes.
  for (const p of [5, [], [[1, 2]], ["a", "b"], [-1], [1.5], null, { text: "x" }]) cases.push({ name: `prompt=${JSON.stringify(p)}`, path: "/v1/completions", body: JSON.stringify({ prompt: p }) });
  cases.push({ name: "prompt token out of vocabulary", path: "/v1/completions", body: JSON.stringify({ prompt: [1, 99999999] }) });
  for (const b of [{}, { content: 5 }, { tokens: "x" }]) cases.push({ name: `tokenize ${JSON.stringify(b)}`, path: "/tokenize", body: JSON.stringify(b) });
  for (const b of [{}, { tokens: [-1] }, { tokens: [1e9] }, { tokens: "abc" }]) cases.push({ name: `detokenize ${JSON.stringify(b)}`, path: "/detokenize", body: JSON.stringify(b) });

  test(`${cases.length} malformed requests all get a 4xx in OpenAI's shape, and the server keeps serving`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(100);
    for (const c of cases) {
      const r = await fetch(`${server.url}${c.path ?? "/v1/chat/completions"}`, { method: "POST", body: c.body as BodyInit, headers: c.headers });
      const text = await r.text();
      if (r.status < 400 || r.status >= 500) throw new Error(`${c.name}: status ${r.status}: ${text.slice(0, 200)}`);
      if (c.status) expect(r.status).toBe(c.status);
      let j;
      try {
        j = JSON.parse(text);
      } catch {
        throw new Error(`${c.name}: status ${r.status} without a JSON body: ${JSON.stringify(text.slice(0, 200))}`);
      }
      expect(typeof j.error.message).toBe("string");
      expect(typeof j.error.type).toBe("string");
      expect("param" in j.error && "code" in j.error).toBe(true);
    }
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await streamText("still alive", 3)).length).toBeGreaterThan(0);
  });
});
