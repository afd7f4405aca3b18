// End to end: the real server process (HTTP thread + engine worker) on a fixture model with the llama
// engine, driven by the official openai client.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ensureFixtures } from "../scripts/fixtures.ts";
import { LlamaEngine } from "../src/engine/llama/llama-engine.ts";
import { greedyTokens } from "./support/greedy.ts";
import { startServer, type RunningServer } from "./support/server-process.ts";

const fx = ensureFixtures();
const model = fx.paths.bitnet.tq2_0;
let server: RunningServer;
let client: OpenAI;
let direct: LlamaEngine;

beforeAll(async () => {
  server = await startServer(["--engine", "llama", "--model", model, "--ctx", "1024", "--parallel", "2", "--threads", "1", "--max-tokens", "32", "--mask-token-id", "128002"]);
  client = new OpenAI({ apiKey: "none", baseURL: `${server.url}/v1`, maxRetries: 0 });
  direct = new LlamaEngine({ path: model, nCtx: 1024, nBatch: 512, nParallel: 1, threads: 1 });
});

afterAll(async () => {
  direct?.close();
  if (server) expect(await server.stop()).toBe(0);
});

describe("server with the llama engine", () => {
  test("the reference README's curl command works verbatim (form content type, no model)", async () => {
    const r = Bun.spawnSync(["curl", "-s", `${server.url}/v1/chat/completions`, "-d", '{"messages":[{"role":"user","content":"Hello"}]}']);
    const j = JSON.parse(r.stdout.toString());
    expect(j.object).toBe("chat.completion");
    expect(typeof j.choices[0].message.content).toBe("string");
    expect(["stop", "length"]).toContain(j.choices[0].finish_reason);
    expect(j.usage.prompt_tokens).toBeGreaterThan(5);
  });

  test("greedy output through the server equals a direct greedy loop on the same engine, token for token", async () => {
    const prompt = "The quick brown fox";
    const tokens = Array.from(direct.tokenize(prompt, { addSpecial: true, parseSpecial: true }));
    const want = greedyTokens(direct, tokens, 24);
    const wantText = new TextDecoder().decode(Buffer.concat(want.map((t) => direct.tokenBytes(t, false))));
    const r = await client.completions.create({ model: "ignored-by-check", prompt, max_tokens: 24, temperature: 0, ignore_eos: true } as never).catch((e) => e);
    // The model name must match; use the served id.
    expect(r).toBeInstanceOf(OpenAI.NotFoundError);
    const id = (await client.models.list()).data[0].id;
    const ok = await client.completions.create({ model: id, prompt, max_tokens: 24, temperature: 0, ignore_eos: true } as never);
    expect(ok.choices[0].text).toBe(wantText);
    expect(ok.usage?.prompt_tokens).toBe(tokens.length);
    expect(ok.usage?.completion_tokens).toBe(24);
  });

  test("chat, streaming and not, agree; include_usage counts tokens", async () => {
    const id = (await client.models.list()).data[0].id;
    const messages = [{ role: "user" as const, content: "Tell me a story." }];
    const plain = await client.chat.completions.create({ model: id, messages, max_tokens: 20, temperature: 0 });
    const stream = await client.chat.completions.create({ model: id, messages, max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null = null;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    expect(text).toBe(plain.choices[0].message.content ?? "");
    expect(finish).toBe(plain.choices[0].finish_reason);
    expect(usage?.completion_tokens).toBe(plain.usage?.completion_tokens);
    expect(usage?.prompt_tokens).toBe(plain.usage?.prompt_tokens);
  });

  test("max_tokens, stop strings and seeded sampling", async () => {
    const id = (await client.models.list()).data[0].id;
    const base = { model: id, prompt: "Once upon a time", temperature: 0, ignore_eos: true } as const;
    const long = await client.completions.create({ ...base, max_tokens: 30 } as never);
    expect(long.usage?.completion_tokens).toBe(30);
    expect(long.choices[0].finish_reason).toBe("length");
    // Take a stop string from the middle of the greedy text: the reply must end right before it.
    const text = long.choices[0].text;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    if (stop.trim().length > 0) {
      const stopped = await client.completions.create({ ...base, max_tokens: 30, stop: [stop] } as never);
      expect(stopped.choices[0].finish_reason).toBe("stop");
      expect(text.startsWith(stopped.choices[0].text)).toBe(true);
      expect(stopped.choices[0].text.includes(stop)).toBe(false);
    }
    const seeded = () => client.completions.create({ model: id, prompt: "Hello", max_tokens: 16, temperature: 1, seed: 1234 });
    expect((await seeded()).choices[0].text).toBe((await seeded()).choices[0].text);
  });

  test("errors surface as the client's typed errors", async () => {
    const id = (await client.models.list()).data[0].id;
    const bad = await client.chat.completions.create({ model: id, messages: [], max_tokens: 5 }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    const tooLong = await client.completions.create({ model: id, prompt: "word ".repeat(2000), max_tokens: 5 }).catch((e) => e);
    expect(tooLong).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String(tooLong.message)).toContain("context");
  });

  test("/health answers within 50 ms while a long generation runs", async () => {
    const id = (await client.models.list()).data[0].id;
    const gen = client.completions.create({ model: id, prompt: "x", max_tokens: 150, temperature: 0, ignore_eos: true } as never);
    await Bun.sleep(300);
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const r = await fetch(`${server.url}/health`);
      times.push(performance.now() - t0);
      expect(r.status).toBe(200);
      await Bun.sleep(20);
    }
    const done = await gen;
    expect(done.usage?.completion_tokens).toBe(150);
    expect(Math.max(...times)).toBeLessThan(50);
  });

  test("block diffusion per request: statistics in timings, exact max_tokens, greedy θ>1 block 1 equals AR", async () => {
    const id = (await client.models.list()).data[0].id;
    const base = { model: id, prompt: "The quick brown fox", max_tokens: 19, temperature: 0, ignore_eos: true };
    const ar = await client.completions.create(base as never);
    const one = await client.completions.create({ ...base, dlm: { block_size: 1, sub_block_size: 1, threshold: 2 } } as never);
    expect(one.choices[0].text).toBe(ar.choices[0].text);
    const fast = (await client.completions.create({ ...base, dlm: { block_size: 8, sub_block_size: 8, mode: "greedy" } } as never)) as unknown as {
      usage: { completion_tokens: number };
      timings: { forward_passes: number; tokens_per_pass: number };
    };
    expect(fast.usage.completion_tokens).toBe(19);
    expect(fast.timings.tokens_per_pass).toBeGreaterThan(2);
    // Streaming delivers the same text.
    const stream = await client.completions.create({ ...base, stream: true, dlm: { block_size: 8, sub_block_size: 8, mode: "greedy" } } as never);
    let text = "";
    for await (const c of stream as unknown as AsyncIterable<OpenAI.Completion>) text += c.choices[0]?.text ?? "";
    expect(text).toBe((fast as unknown as OpenAI.Completion).choices[0].text);
  });
});

test("--dlm on a model without a mask token fails at launch with a clear message", async () => {
  const p = Bun.spawn([process.execPath, "src/cli.ts", "serve", "--engine", "llama", "--model", model, "--port", "0", "--dlm"], {
    cwd: `${import.meta.dir}/..`,
    stderr: "pipe",
  });
  const code = await p.exited;
  const err = await new Response(p.stderr).text();
  expect(code).toBe(2);
  expect(err).toContain("mask token");
});
