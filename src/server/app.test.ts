import { describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { FakeEngine } from "../../test/support/fake-engine.ts";
import { InProcessClient } from "../../test/support/in-process-client.ts";
import { createApp } from "./app.ts";
import { DLM_DEFAULTS } from "../generate/dlm-config.ts";
import { Metrics } from "./metrics.ts";

function setup(engine = new FakeEngine()) {
  const client = new InProcessClient(engine);
  const app = createApp({ client, modelId: "fake-model", defaults: { maxTokens: 16, dlm: DLM_DEFAULTS }, bodyLimit: 64 * 1024 });
  const openai = new OpenAI({
    apiKey: "unused",
    baseURL: "http://test.local/v1",
    maxRetries: 0,
    fetch: (async (url: string | URL | Request, init?: RequestInit) => app.request(url instanceof Request ? url : String(url), init)) as typeof fetch,
  });
  return { app, openai, engine };
}

const post = (app: ReturnType<typeof setup>["app"], path: string, body: string, headers: Record<string, string> = {}) =>
  app.request(path, { method: "POST", body, headers });

describe("HTTP API on a deterministic engine", () => {
  test("completions through the openai client: text, finish reason, usage, timings", async () => {
    const { openai } = setup();
    const r = await openai.completions.create({ model: "fake-model", prompt: "a", max_tokens: 4, temperature: 0 });
    expect(r.choices[0].text).toBe("bcde");
    expect(r.choices[0].finish_reason).toBe("length");
    expect(r.usage).toEqual({ prompt_tokens: 1, completion_tokens: 4, total_tokens: 5 });
    expect((r as unknown as { timings: Record<string, number> }).timings.generation_ms).toBeGreaterThanOrEqual(0);
  });

  test("streaming completions deliver the same text, then [DONE]", async () => {
    const { openai } = setup();
    const stream = await openai.completions.create({ model: "fake-model", prompt: "k", max_tokens: 5, temperature: 0, stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe("lmnop");
    expect(finish).toBe("length");
  });

  test("chat streaming with include_usage ends with a usage chunk", async () => {
    const { openai } = setup();
    const stream = await openai.chat.completions.create({
      model: "fake-model", messages: [{ role: "user", content: "hi" }], max_tokens: 3, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBe(3);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("").length).toBe(3);
  });

  test("stop strings never reach the client", async () => {
    const { openai } = setup();
    const r = await openai.completions.create({ model: "fake-model", prompt: "a", max_tokens: 20, temperature: 0, stop: ["ef"] });
    expect(r.choices[0].text).toBe("bcd");
    expect(r.choices[0].finish_reason).toBe("stop");
  });

  test("a JSON body sent without a JSON content type is accepted (curl -d)", async () => {
    const { app } = setup();
    const res = await post(app, "/v1/chat/completions", '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":2}', {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(res.status).toBe(200);
    const j = await res.json();
    expect(j.object).toBe("chat.completion");
    expect(j.choices[0].message.role).toBe("assistant");
  });

  test("malformed JSON, validation errors and unknown models come back in OpenAI's shape", async () => {
    const { app, openai } = setup();
    const bad = await post(app, "/v1/chat/completions", "{not json");
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.type).toBe("invalid_request_error");

    const field = await post(app, "/v1/chat/completions", JSON.stringify({ messages: [{ role: "user", content: "x" }], temperature: 9 }));
    expect(field.status).toBe(400);
    expect((await field.json()).error.param).toBe("temperature");

    const role = await post(app, "/v1/chat/completions", JSON.stringify({ messages: [{ role: "wizard", content: "x" }] }));
    expect((await role.json()).error.param).toBe("messages.0.role");

    const empty = await post(app, "/v1/chat/completions", JSON.stringify({ messages: [] }));
    expect(empty.status).toBe(400);

    expect(await openai.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await openai.completions.create({ model: "fake-model", prompt: "a", top_p: 5 }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.BadRequestError);
  });

  test("oversized bodies get 413, unknown routes 404, and every response has a request id", async () => {
    const { app } = setup();
    const big = await post(app, "/v1/completions", JSON.stringify({ prompt: "x".repeat(100 * 1024) }));
    expect(big.status).toBe(413);
    const nf = await app.request("/nope");
    expect(nf.status).toBe(404);
    expect(nf.headers.get("x-request-id")).toBeTruthy();
    const mine = await app.request("/health", { headers: { "x-request-id": "abc-123" } });
    expect(mine.headers.get("x-request-id")).toBe("abc-123");
  });

  test("a prompt longer than the context is a 400 with the numbers", async () => {
    const { openai } = setup(new FakeEngine({ nCtx: 16 }));
    const err = await openai.completions.create({ model: "fake-model", prompt: "x".repeat(40) }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String(err.message)).toContain("40 tokens");
  });

  test("models list and lookup", async () => {
    const { openai } = setup();
    const list = await openai.models.list();
    expect(list.data.map((m) => m.id)).toEqual(["fake-model"]);
    expect((await openai.models.retrieve("fake-model")).id).toBe("fake-model");
    expect(await openai.models.retrieve("other").catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  test("seeded sampling is reproducible", async () => {
    const { openai } = setup();
    const ask = () => openai.completions.create({ model: "fake-model", prompt: "a", max_tokens: 6, temperature: 1.5, seed: 42 });
    expect((await ask()).choices[0].text).toBe((await ask()).choices[0].text);
  });
});

describe("security, metrics and tokenizer routes", () => {
  function secured(over: Partial<Parameters<typeof createApp>[0]> = {}) {
    const client = new InProcessClient(new FakeEngine());
    const metrics = new Metrics(() => ({ ...client.stats, capacity: 4, ready: true }));
    const app = createApp({
      client, modelId: "fake-model", defaults: { maxTokens: 4, dlm: DLM_DEFAULTS }, bodyLimit: 65536, metrics,
      security: { apiKeys: ["secret-key-1"], corsOrigins: ["http://ok.example"], allowedHosts: ["localhost", "127.0.0.1"] },
      ...over,
    });
    return { app, metrics };
  }
  const H = (extra: Record<string, string> = {}) => ({ host: "127.0.0.1:30000", ...extra });

  test("an API key is required (Bearer or x-api-key) except on the probes", async () => {
    const { app } = secured();
    const body = JSON.stringify({ prompt: "a", max_tokens: 2 });
    expect((await app.request("/health", { headers: H() })).status).toBe(200);
    expect((await app.request("/ready", { headers: H() })).status).toBe(200);
    const none = await app.request("/v1/completions", { method: "POST", body, headers: H() });
    expect(none.status).toBe(401);
    expect((await none.json()).error.type).toBe("authentication_error");
    expect((await app.request("/v1/completions", { method: "POST", body, headers: H({ authorization: "Bearer wrong-key" }) })).status).toBe(401);
    expect((await app.request("/v1/completions", { method: "POST", body, headers: H({ authorization: "Bearer secret-key-1" }) })).status).toBe(200);
    expect((await app.request("/v1/models", { headers: H({ "x-api-key": "secret-key-1" }) })).status).toBe(200);
  });

  test("a foreign Host is refused on loopback (DNS rebinding)", async () => {
    const { app } = secured();
    const r = await app.request("/health", { headers: { host: "evil.example:30000" } });
    expect(r.status).toBe(403);
    expect((await app.request("/health", { headers: { host: "localhost:30000" } })).status).toBe(200);
  });

  test("CORS answers only allowed origins", async () => {
    const { app } = secured();
    const pre = (origin: string) =>
      app.request("/v1/completions", { method: "OPTIONS", headers: H({ origin, "access-control-request-method": "POST" }) });
    const ok = await pre("http://ok.example");
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe("http://ok.example");
    expect((await pre("http://evil.example")).status).toBe(403);
    const plain = await app.request("/health", { headers: H({ origin: "http://evil.example" }) });
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("/metrics counts requests and tokens in Prometheus format", async () => {
    const { app } = secured({ security: undefined });
    await app.request("/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "a", max_tokens: 3, temperature: 0 }) });
    const text = await (await app.request("/metrics")).text();
    expect(text).toContain("# TYPE ternary_requests_total counter");
    expect(text).toMatch(/ternary_generated_tokens_total 3\b/);
    expect(text).toMatch(/ternary_requests_total\{route="\/v1\/completions",status="200"\} 1/);
    expect(text).toContain("ternary_time_to_first_token_seconds_bucket");
    expect(text).toMatch(/ternary_queue_depth 0/);
  });

  test("/tokenize and /detokenize round-trip", async () => {
    const { app } = secured({ security: undefined });
    const t = await (await app.request("/tokenize", { method: "POST", body: JSON.stringify({ content: "hey" }) })).json();
    expect(t.tokens).toEqual([104, 101, 121]);
    const d = await (await app.request("/detokenize", { method: "POST", body: JSON.stringify({ tokens: t.tokens }) })).json();
    expect(d.content).toBe("hey");
    expect((await app.request("/detokenize", { method: "POST", body: JSON.stringify({ tokens: [9999] }) })).status).toBe(400);
  });

  test("n choices: independent seeded choices in one response, streamed by index", async () => {
    const { app } = secured({ security: undefined });
    const r = await (await app.request("/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "a", max_tokens: 3, n: 3, temperature: 0 }) })).json();
    expect(r.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2]);
    expect(r.choices.every((c: { text: string }) => c.text === "bcd")).toBe(true);
    expect(r.usage.completion_tokens).toBe(9);
  });

  test("draining refuses new work with 503 and /ready fails", async () => {
    let draining = false;
    const { app } = secured({ security: undefined, draining: () => draining });
    draining = true;
    expect((await app.request("/ready")).status).toBe(503);
    const r = await app.request("/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "a" }) });
    expect(r.status).toBe(503);
  });
});
