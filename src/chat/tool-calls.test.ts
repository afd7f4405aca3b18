// Tool-call tests: validating `tools`, parsing the shapes models write, the streaming detector with
// chunks cut at every position, and forced calls written through the JSON constraint by a random
// model, read back by parseToolCalls and checked against the tool's parameters (ajv).

import { describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import { makeVocab, schemaWords, walk } from "../../test/support/random-json-model.ts";
import { jsonConstraint } from "../generate/json-constraint.ts";
import {
  type Delta, parseToolCalls, PYTHON_TAG, type ToolChoice, toolCallSchema, ToolCallStream, type ToolDef, ToolError,
  validateTools,
} from "./tool-calls.ts";

const TOOLS: ToolDef[] = validateTools([
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather at a place",
      parameters: {
        type: "object",
        properties: { location: { type: "string", minLength: 1 }, unit: { enum: ["c", "f"] } },
        required: ["location"],
        additionalProperties: false,
      },
    },
  },
  {
    type: "function",
    function: {
      name: "search",
      parameters: {
        type: "object",
        $defs: {
          filter: {
            type: "object",
            properties: { field: { type: "string" }, value: { type: ["string", "number"] } },
            required: ["field", "value"],
            additionalProperties: false,
          },
        },
        properties: {
          query: { type: "string", minLength: 1, maxLength: 30 },
          filters: { type: "array", items: { $ref: "#/$defs/filter" }, maxItems: 2 },
        },
        required: ["query"],
        additionalProperties: false,
      },
    },
  },
  { type: "function", function: { name: "ping" } },
]);

/** Deterministic ids: call_0, call_1, … per parse. */
function ids() {
  let n = 0;
  return () => `call_${n++}`;
}

const parse = (text: string) => parseToolCalls(text, TOOLS, ids());
const call = (name: string, args: unknown, i = 0) => ({
  id: `call_${i}`,
  type: "function",
  function: { name, arguments: JSON.stringify(args) },
});

describe("validateTools", () => {
  const bad: [unknown, string, string?][] = [
    [{}, "tools"],
    [[1], "tools[0]"],
    [[{ type: "fn", function: { name: "a" } }], "tools[0].type"],
    [[{ type: "function" }], "tools[0].function"],
    [[{ type: "function", function: { name: "has space" } }], "tools[0].function.name"],
    [[{ type: "function", function: { name: "x".repeat(65) } }], "tools[0].function.name"],
    [[{ type: "function", function: { name: "a" } }, { type: "function", function: { name: "a" } }], "tools[1].function.name", "twice"],
    [[{ type: "function", function: { name: "a", description: 3 } }], "tools[0].function.description"],
    [[{ type: "function", function: { name: "a", parameters: "x" } }], "tools[0].function.parameters"],
    [[{ type: "function", function: { name: "a", parameters: { type: "object", properties: { s: { type: "string", pattern: "^x" } } } } }], "tools[0].function.parameters", '"pattern"'],
    [[{ type: "function", function: { name: "a", parameters: { type: "string" } } }], "tools[0].function.parameters", "describe an object"],
  ];
  for (const [tools, param, message] of bad) {
    test(`rejects: ${param}${message ? ` (${message})` : ""}`, () => {
      let err: unknown = null;
      try {
        validateTools(tools);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ToolError);
      expect((err as ToolError).param).toBe(param);
      if (message !== undefined) expect((err as Error).message).toContain(message);
    });
  }

  test("keeps the known fields", () => {
    expect(validateTools([{ type: "function", function: { name: "a_b-1", strict: true, extra: 1 } }])).toEqual([
      { type: "function", function: { name: "a_b-1", strict: true } },
    ]);
  });
});

describe("parseToolCalls", () => {
  const cases: [string, string, { content: string | null; calls: unknown[] }][] = [
    ["a bare call", '{"name": "get_weather", "parameters": {"location": "Paris", "unit": "c"}}', {
      content: null,
      calls: [call("get_weather", { location: "Paris", unit: "c" })],
    }],
    ["arguments as a JSON string", '{"name": "get_weather", "arguments": "{\\"location\\": \\"Oslo\\"}"}', {
      content: null,
      calls: [call("get_weather", { location: "Oslo" })],
    }],
    ["an array of calls", '[{"name":"ping","parameters":{}}, {"name":"search","arguments":{"query":"q"}}]', {
      content: null,
      calls: [call("ping", {}), call("search", { query: "q" }, 1)],
    }],
    ["the python tag", `${PYTHON_TAG}{"name": "search", "parameters": {"query": "x"}}`, {
      content: null,
      calls: [call("search", { query: "x" })],
    }],
    ["prose, then a call", 'Let me check.\n{"name": "ping", "parameters": {}}', {
      content: "Let me check.",
      calls: [call("ping", {})],
    }],
    ["calls separated by ';' and newlines", '{"name":"ping","parameters":{}};\n{"name":"ping","parameters":{"a":1}}', {
      content: null,
      calls: [call("ping", {}), call("ping", { a: 1 }, 1)],
    }],
    ["OpenAI's own shape", '{"type":"function","function":{"name":"ping","arguments":"{}"}}', {
      content: null,
      calls: [call("ping", {})],
    }],
    ["a name alone", ' {"name": "ping"} ', { content: null, calls: [call("ping", {})] }],
    ["braces inside strings", '{"name":"search","parameters":{"query":"a } b { \\"c\\""}}', {
      content: null,
      calls: [call("search", { query: 'a } b { "c"' })],
    }],
    ["braces in prose before a call", 'Use f{x} or {y}. {"name":"ping","parameters":{}}', {
      content: "Use f{x} or {y}.",
      calls: [call("ping", {})],
    }],
    ["an unknown name", '{"name": "launch", "parameters": {}}', { content: '{"name": "launch", "parameters": {}}', calls: [] }],
    ["JSON that is no call", '{"location": "Paris"}', { content: '{"location": "Paris"}', calls: [] }],
    ["plain text", "Hello there.", { content: "Hello there.", calls: [] }],
    ["cut-off JSON", '{"name": "ping", "parameters": {', { content: '{"name": "ping", "parameters": {', calls: [] }],
    ["an empty array", "[]", { content: "[]", calls: [] }],
    ["non-object arguments", '{"name": "ping", "parameters": [1]}', { content: '{"name": "ping", "parameters": [1]}', calls: [] }],
    ["a call followed by prose", '{"name": "ping", "parameters": {}} done', {
      content: '{"name": "ping", "parameters": {}} done',
      calls: [],
    }],
  ];
  for (const [name, text, want] of cases) {
    test(name, () => expect(parse(text)).toEqual(want as ReturnType<typeof parse>));
  }
});

/** Runs the stream over `chunks`; returns all content joined and the tool-call deltas. */
function stream(chunks: string[]) {
  const s = new ToolCallStream(TOOLS, ids());
  const deltas: Delta[] = [];
  const early: number[] = [];
  chunks.forEach((c, i) => {
    const d = s.push(c);
    if (d.length > 0) early.push(i);
    deltas.push(...d);
  });
  deltas.push(...s.finish());
  let content: string | null = null;
  const calls: unknown[] = [];
  for (const d of deltas) {
    if ("content" in d) content = (content ?? "") + d.content;
    else {
      for (const t of d.toolCalls) {
        calls.push({ id: t.id, type: t.type, function: { name: t.function.name, arguments: t.function.arguments } });
      }
    }
  }
  return { content, calls, early };
}

describe("ToolCallStream", () => {
  const texts = [
    '{"name": "get_weather", "parameters": {"location": "Paris"}}',
    '  [{"name":"ping","parameters":{}}, {"name":"search","arguments":{"query":"é😀"}}]',
    `${PYTHON_TAG}{"name": "search", "parameters": {"query": "x"}}`,
    '\n{"name": "nope", "parameters": {}}',
    "Plain answer with {braces}.",
    '<b>not the tag</b> {"name": "ping"}',
    "<|python",
    "   ",
  ];
  for (const text of texts) {
    test(`cut at every position: ${JSON.stringify(text.slice(0, 30))}`, () => {
      const lead = text.trimStart();
      const callLike = lead.startsWith("{") || lead.startsWith("[") || lead.startsWith(PYTHON_TAG);
      const parsed = parse(text);
      const want = callLike && parsed.calls.length > 0 ? parsed : { content: text, calls: [] };
      const chars = [...text];
      for (let cut = 0; cut <= chars.length; cut++) {
        const got = stream([chars.slice(0, cut).join(""), chars.slice(cut).join("")]);
        expect({ content: got.content, calls: got.calls }).toEqual(want);
      }
      const one = stream(chars);
      expect({ content: one.content, calls: one.calls }).toEqual(want);
      // Content that is clearly not a call streams at once, not at the end.
      if (!callLike && !PYTHON_TAG.startsWith(lead) && lead !== "") expect(one.early[0]).toBeLessThan(chars.length);
    });
  }

  test("holds a call back until finish", () => {
    const s = new ToolCallStream(TOOLS, ids());
    expect(s.push(' {"name": "ping",')).toEqual([]);
    expect(s.buffering).toBe(true);
    expect(s.push(' "parameters": {}}')).toEqual([]);
    expect(s.finish()).toEqual([
      { toolCalls: [{ index: 0, id: "call_0", type: "function", function: { name: "ping", arguments: "{}" } }] },
    ]);
  });
});

describe("toolCallSchema", () => {
  test("none and auto constrain nothing; an unknown name is a ToolError on tool_choice", () => {
    expect(toolCallSchema(TOOLS, "none")).toBeNull();
    expect(toolCallSchema(TOOLS, "auto")).toBeNull();
    expect(() => toolCallSchema(TOOLS, { type: "function", function: { name: "nope" } })).toThrow(ToolError);
    expect(() => toolCallSchema([], "required")).toThrow(ToolError);
  });

  const ajv = new Ajv2020({ strict: false });
  const choices: ToolChoice[] = [
    "required",
    { type: "function", function: { name: "search" } },
    { type: "function", function: { name: "ping" } },
  ];
  for (const choice of choices) {
    test(`forced calls written by a random model parse back: ${JSON.stringify(choice)}`, () => {
      const schema = toolCallSchema(TOOLS, choice)!;
      const c = jsonConstraint(schema);
      const v = makeVocab(schemaWords(schema));
      const validateCall = ajv.compile(schema as object);
      let done = 0;
      for (let seed = 1; seed <= 16; seed++) {
        const r = walk(c, v, seed * 104729);
        expect(r.deadEnd).toBe(false);
        if (!r.finished) continue;
        done++;
        const text = new TextDecoder().decode(r.bytes);
        expect(validateCall(JSON.parse(text))).toBe(true);
        const { content, calls } = parse(text);
        expect(content).toBeNull();
        expect(calls.length).toBe(1);
        const name = calls[0].function.name;
        if (typeof choice === "object") expect(name).toBe(choice.function.name);
        const tool = TOOLS.find((t) => t.function.name === name)!;
        const params = tool.function.parameters ?? { type: "object", additionalProperties: false };
        expect(ajv.validate(params as object, JSON.parse(calls[0].function.arguments))).toBe(true);
      }
      expect(done).toBeGreaterThanOrEqual(12);
    });
  }
});
