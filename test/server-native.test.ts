// End to end with the native engine: the real server process (HTTP thread + engine worker) on a fixture
// model, driven by the official openai client: a completion, a stream, a block-diffusion request.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ensureFixtures } from "../scripts/fixtures.ts";
import { NativeEngine } from "../src/engine/native/native-engine.ts";
import { greedyTokens } from "./support/greedy.ts";
import { startServer, type RunningServer } from "./support/server-process.ts";

const fx = ensureFixtures();
const model = fx.paths["bitnet-b1.58"].i2_s;
let server: RunningServer;
let client: OpenAI;
let direct: NativeEngine;
let id: string;

beforeAll(async () => {
  server = await startServer(["--engine", "native", "--model", model, "--ctx", "1024", "--parallel", "2", "--threads", "2", "--max-tokens", "32", "--mask-token-id", "128002"]);
  client = new OpenAI({ apiKey: "none", baseURL: `${server.url}/v1`, maxRetries: 0 });
  direct = new NativeEngine({ path: model, nCtx: 1024, nBatch: 512, nParallel: 1, threads: 1 });
  id = (await client.models.list()).data[0].id;
});

afterAll(async () => {
  direct?.close();
  if (server) expect(await server.stop()).toBe(0);
});

describe("server with the native engine", () => {
  test("greedy completion equals a direct greedy loop on the engine, token for token", async () => {
    const prompt = "The quick brown fox";
    const tokens = Array.from(direct.tokenize(prompt, { addSpecial: true, parseSpecial: true }));
    const want = greedyTokens(direct, tokens, 24);
    const wantText = new TextDecoder().decode(Buffer.concat(want.map((t) => direct.tokenBytes(t, false))));
    const r = await client.completions.create({ model: id, prompt, max_tokens: 24, temperature: 0, ignore_eos: true } as never);
    expect(r.choices[0].text).toBe(wantText);
    expect(r.usage?.prompt_tokens).toBe(tokens.length);
    expect(r.usage?.completion_tokens).toBe(24);
  });

  test("a streamed chat completion equals the plain one", async () => {
    const messages = [{ role: "user" as const, content: "Tell me a story." }];
    const plain = await client.chat.completions.create({ model: id, messages, max_tokens: 20, temperature: 0 });
    const stream = await client.chat.completions.create({ model: id, messages, max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? "";
      usage = c.usage ?? usage;
    }
    expect(text).toBe(plain.choices[0].message.content ?? "");
    expect(usage?.completion_tokens).toBe(plain.usage?.completion_tokens);
  });

  test("block diffusion: θ > 1 with block size 1 equals AR, and greedy blocks commit several tokens per pass", async () => {
    const base = { model: id, prompt: "Once upon a time", max_tokens: 19, temperature: 0, ignore_eos: true };
    const ar = await client.completions.create(base as never);
    const one = await client.completions.create({ ...base, dlm: { block_size: 1, sub_block_size: 1, threshold: 2 } } as never);
    expect(one.choices[0].text).toBe(ar.choices[0].text);
    const fast = (await client.completions.create({ ...base, dlm: { block_size: 8, sub_block_size: 8, mode: "greedy", attention: "block" } } as never)) as unknown as {
      usage: { completion_tokens: number };
      timings: { tokens_per_pass: number };
    };
    expect(fast.usage.completion_tokens).toBe(19);
    expect(fast.timings.tokens_per_pass).toBeGreaterThan(2);
  });

  test("a prompt longer than the context is a 400 that names the context", async () => {
    const tooLong = await client.completions.create({ model: id, prompt: "word ".repeat(2000), max_tokens: 5 }).catch((e) => e);
    expect(tooLong).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String(tooLong.message)).toContain("context");
  });
});
