// Constrained decoding through the HTTP API on a real (random-weight) model: every json_schema and
// json_object reply parses and validates, over many seeds; forced tool calls come back as tool_calls.
import { afterAll, describe, expect, test } from "bun:test";
import Ajv from "ajv";
import OpenAI from "openai";
import { ensureFixtures } from "../scripts/fixtures.ts";
import { LlamaEngine } from "../src/engine/llama/llama-engine.ts";
import { DLM_DEFAULTS } from "../src/generate/dlm-config.ts";
import { createApp } from "../src/server/app.ts";
import { InProcessClient } from "./support/in-process-client.ts";

const engine = new LlamaEngine({ path: ensureFixtures().paths.bitnet.tq2_0, nCtx: 1024, nBatch: 256, nParallel: 4, threads: 1 });
afterAll(() => engine.close());
const app = createApp({ client: new InProcessClient(engine), modelId: "m", defaults: { maxTokens: 300, dlm: DLM_DEFAULTS }, bodyLimit: 1 << 20 });
const client = new OpenAI({
  apiKey: "x",
  baseURL: "http://local/v1",
  maxRetries: 0,
  fetch: (async (u: string | URL | Request, i?: RequestInit) => app.request(u instanceof Request ? u : String(u), i)) as typeof fetch,
});
const ajv = new Ajv({ strict: false });

const schemas: Record<string, Record<string, unknown>> = {
  person: {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 12 },
      age: { type: "integer", minimum: 0, maximum: 120 },
      pet: { enum: ["cat", "dog", "none"] },
    },
    required: ["name", "age", "pet"],
    additionalProperties: false,
  },
  list: { type: "array", items: { type: "boolean" }, minItems: 1, maxItems: 4 },
  nested: {
    type: "object",
    properties: { ok: { type: "boolean" }, tags: { type: "array", items: { type: "string", maxLength: 6 }, maxItems: 3 } },
    required: ["ok", "tags"],
    additionalProperties: false,
  },
  choice: { anyOf: [{ type: "null" }, { type: "number", minimum: -5, maximum: 5 }, { const: "x" }] },
};

describe("constrained decoding", () => {
  for (const [name, schema] of Object.entries(schemas)) {
    test(`json_schema '${name}': every seed's reply parses and validates`, async () => {
      const validate = ajv.compile(schema);
      for (let seed = 0; seed < 4; seed++) {
        const r = await client.chat.completions.create({
          model: "m",
          messages: [{ role: "user", content: "Give me JSON." }],
          temperature: 1,
          seed,
          max_tokens: 300,
          response_format: { type: "json_schema", json_schema: { name, schema, strict: true } },
        });
        const text = r.choices[0].message.content ?? "";
        expect(r.choices[0].finish_reason).toBe("stop");
        const value = JSON.parse(text);
        if (!validate(value)) throw new Error(`seed ${seed}: ${text} fails: ${JSON.stringify(validate.errors)}`);
      }
    });
  }

  test("json_object replies are JSON objects", async () => {
    for (let seed = 0; seed < 3; seed++) {
      const r = await client.chat.completions.create({
        model: "m", messages: [{ role: "user", content: "JSON please" }], temperature: 0.8, seed, max_tokens: 300,
        response_format: { type: "json_object" },
      });
      const text = r.choices[0].message.content ?? "";
      if (r.choices[0].finish_reason === "stop") expect(typeof JSON.parse(text)).toBe("object");
      else expect(text.trimStart().startsWith("{")).toBe(true); // cut by max_tokens: a valid prefix
    }
  });

  test("an unsupported schema is a 400 naming the keyword", async () => {
    const err = await client.chat.completions
      .create({
        model: "m", messages: [{ role: "user", content: "x" }],
        response_format: { type: "json_schema", json_schema: { name: "p", schema: { type: "string", pattern: "^a+$" } } },
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(String(err.message)).toContain("pattern");
  });

  test("tool_choice required: the reply is a tool call with valid arguments, streamed or not", async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Weather for a city",
          parameters: { type: "object", properties: { city: { type: "string", maxLength: 10 } }, required: ["city"], additionalProperties: false },
        },
      },
    ];
    const r = await client.chat.completions.create({
      model: "m", messages: [{ role: "user", content: "Weather in Paris?" }], tools, tool_choice: "required", temperature: 0.7, seed: 3, max_tokens: 200,
    });
    const call = r.choices[0].message.tool_calls?.[0];
    expect(r.choices[0].finish_reason).toBe("tool_calls");
    expect(call?.type).toBe("function");
    if (call?.type !== "function") throw new Error("no function call");
    expect(call.function.name).toBe("get_weather");
    expect(typeof JSON.parse(call.function.arguments).city).toBe("string");

    const stream = await client.chat.completions.create({
      model: "m", messages: [{ role: "user", content: "Weather in Paris?" }], tools, tool_choice: "required", temperature: 0.7, seed: 3, max_tokens: 200, stream: true,
    });
    let args = "";
    let finish: string | null = null;
    for await (const c of stream) {
      for (const tc of c.choices[0]?.delta?.tool_calls ?? []) args += tc.function?.arguments ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe("tool_calls");
    expect(JSON.parse(args)).toEqual(JSON.parse(call.function.arguments));
  });

  test("bad tools are 400s naming the field", async () => {
    const bad = await client.chat.completions
      .create({ model: "m", messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "bad name!" } }] as never })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.param).toContain("tools");
  });
});
