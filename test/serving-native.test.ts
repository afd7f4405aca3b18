// Serving on the native engine: concurrent streams (plain and block diffusion) with exact, independent
// outputs, and the queue's limits over HTTP (429 with Retry-After when full, 503 after --queue-timeout).
import { afterAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ensureFixtures } from "../scripts/fixtures.ts";
import { startServer, type RunningServer } from "./support/server-process.ts";

const model = ensureFixtures().paths["bitnet-b1.58"].i2_s;
const servers: RunningServer[] = [];
afterAll(async () => {
  for (const s of servers) expect(await s.stop()).toBe(0);
});

async function server(extra: string[]): Promise<{ s: RunningServer; client: OpenAI; id: string }> {
  const s = await startServer(["--engine", "native", "--model", model, "--ctx", "512", "--threads", "1", "--mask-token-id", "128002", ...extra]);
  servers.push(s);
  const client = new OpenAI({ apiKey: "none", baseURL: `${s.url}/v1`, maxRetries: 0 });
  return { s, client, id: (await client.models.list()).data[0].id };
}

async function streamText(client: OpenAI, id: string, prompt: string, max: number, dlm: unknown = false): Promise<{ text: string; tokens: number }> {
  const st = await client.completions.create({ model: id, prompt, max_tokens: max, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true }, dlm } as never);
  let text = "";
  let tokens = 0;
  for await (const c of st as unknown as AsyncIterable<OpenAI.Completion>) {
    text += c.choices[0]?.text ?? "";
    tokens = c.usage?.completion_tokens ?? tokens;
  }
  return { text, tokens };
}

describe("native engine under load", () => {
  test("16 concurrent streams, plain and block diffusion, equal their solo runs", async () => {
    const { client, id } = await server(["--parallel", "8", "--queue", "64"]);
    const prompts = Array.from({ length: 16 }, (_, i) => `Item ${i}: the lighthouse keeper said`);
    const dlm = { block_size: 8, sub_block_size: 8, mode: "greedy" };
    const soloAr = await streamText(client, id, prompts[0], 10);
    const soloDlm = await streamText(client, id, prompts[1], 10, dlm);
    const all = await Promise.all(prompts.map((p, i) => streamText(client, id, p, 10, i % 2 ? dlm : false)));
    expect(all[0].text).toBe(soloAr.text);
    expect(all[1].text).toBe(soloDlm.text);
    for (const r of all) expect(r.tokens).toBe(10);
    expect(new Set(all.map((r) => r.text)).size).toBeGreaterThan(8);
  });

  test("a full queue answers 429 with Retry-After; a request that waits too long gets 503", async () => {
    const { s } = await server(["--parallel", "1", "--queue", "1", "--queue-timeout", "0.3"]);
    const long = (max: number) =>
      fetch(`${s.url}/v1/completions`, { method: "POST", body: JSON.stringify({ prompt: "long", max_tokens: max, temperature: 0, ignore_eos: true }) });
    const running = long(400); // takes the only sequence
    await Bun.sleep(200);
    const waiting = long(5); // waits in the queue, then times out
    await Bun.sleep(50);
    const refused = await long(5); // the queue is full
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeTruthy();
    expect((await refused.json()).error.type).toBe("rate_limit_error");
    const timedOut = await waiting;
    expect(timedOut.status).toBe(503);
    expect((await timedOut.json()).error.code).toBe("queue_timeout");
    expect((await running).status).toBe(200);
  });
});
