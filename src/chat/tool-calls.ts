// OpenAI tools for models whose chat template renders them (Llama 3 style): checking `tools`, the
// schema a forced call must follow, and reading calls back out of the model's text, whole or streamed.
//
// Llama 3.x templates ask for `{"name": function name, "parameters": {arguments}}`; models also write
// "arguments", several calls as an array or one after another, or Llama 3.1's `<|python_tag|>` first.
// Only names from `tools` count as calls, so prose that merely looks like JSON stays content.

import { type JsonSchema, jsonConstraint, SchemaError } from "../generate/json-constraint.ts";

export interface ToolDef {
  type: "function";
  function: { name: string; description?: string; parameters?: JsonSchema; strict?: boolean };
}

export type ToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

export interface ParsedToolCall {
  id: string;
  type: "function";
  /** `arguments`: compact JSON text of an object. */
  function: { name: string; arguments: string };
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

export type Delta = { content: string } | { toolCalls: ToolCallDelta[] };

/** A bad `tools` / `tool_choice`; `param` names the field (OpenAI's error `param`). */
export class ToolError extends Error {
  override name = "ToolError";
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

export const PYTHON_TAG = "<|python_tag|>";
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Parameters of a tool that declares none: OpenAI reads that as an empty parameter list. */
const NO_PARAMETERS = { type: "object", properties: {}, additionalProperties: false };
/** Start positions tried when looking for calls after some prose (each try is linear in the text). */
const MAX_CALL_STARTS = 64;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Checks a request's `tools`; throws ToolError naming the bad field. */
export function validateTools(tools: unknown): ToolDef[] {
  if (!Array.isArray(tools)) throw new ToolError("tools must be an array", "tools");
  const names = new Set<string>();
  return tools.map((tool, i) => {
    const at = `tools[${i}]`;
    if (!isObject(tool)) throw new ToolError(`${at} must be an object`, at);
    if (tool.type !== "function") throw new ToolError(`${at}.type must be "function"`, `${at}.type`);
    const fn = tool.function;
    if (!isObject(fn)) throw new ToolError(`${at}.function must be an object`, `${at}.function`);
    const { name, description, parameters, strict } = fn;
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new ToolError(`${at}.function.name must match ^[a-zA-Z0-9_-]{1,64}$`, `${at}.function.name`);
    }
    if (names.has(name)) throw new ToolError(`${at}.function.name "${name}" is used twice`, `${at}.function.name`);
    names.add(name);
    if (description !== undefined && typeof description !== "string") {
      throw new ToolError(`${at}.function.description must be a string`, `${at}.function.description`);
    }
    if (strict !== undefined && strict !== null && typeof strict !== "boolean") {
      throw new ToolError(`${at}.function.strict must be a boolean`, `${at}.function.strict`);
    }
    const def: ToolDef = { type: "function", function: { name } };
    if (description !== undefined) def.function.description = description;
    if (typeof strict === "boolean") def.function.strict = strict;
    if (parameters !== undefined) {
      const param = `${at}.function.parameters`;
      if (!isObject(parameters)) throw new ToolError(`${param} must be a JSON Schema object`, param);
      try {
        const c = jsonConstraint(parameters);
        if (c.advance(c.start(), new TextEncoder().encode("{")) === null) {
          throw new ToolError(`${param} must describe an object`, param);
        }
      } catch (e) {
        if (e instanceof SchemaError) throw new ToolError(`${param}: ${e.message}`, param);
        throw e;
      }
      def.function.parameters = parameters;
    }
    return def;
  });
}

/**
 * The JSON schema the output must follow when the choice forces a call ("required" or a named
 * function): one object {"name": <const>, "parameters": <the tool's parameters>}. null for none/auto.
 */
export function toolCallSchema(tools: ToolDef[], choice: ToolChoice): JsonSchema | null {
  if (choice === "none" || choice === "auto") return null;
  let chosen = tools;
  if (choice !== "required") {
    chosen = tools.filter((t) => t.function.name === choice.function.name);
    if (chosen.length === 0) {
      throw new ToolError(`tool_choice names "${choice.function.name}", which is not in tools`, "tool_choice");
    }
  }
  if (chosen.length === 0) throw new ToolError("tool_choice requires at least one tool", "tool_choice");
  const defs: Record<string, unknown> = {};
  const branches = chosen.map((t, i) => {
    // Each tool's schema moves under $defs, so its own "#…" references are rebased to stay in it.
    const at = `#/$defs/tool${i}`;
    defs[`tool${i}`] = rebase(t.function.parameters ?? NO_PARAMETERS, at);
    return {
      type: "object",
      properties: { name: { const: t.function.name }, parameters: { $ref: at } },
      required: ["name", "parameters"],
      additionalProperties: false,
    };
  });
  return branches.length === 1 ? { ...branches[0], $defs: defs } : { anyOf: branches, $defs: defs };
}

const SCHEMA_MAPS = new Set(["properties", "$defs", "definitions", "patternProperties", "dependentSchemas"]);
const SCHEMA_LISTS = new Set(["anyOf", "oneOf", "allOf", "prefixItems"]);
const SCHEMA_ONE = new Set([
  "items", "additionalItems", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
  "unevaluatedItems", "unevaluatedProperties",
]);

/** A copy of `schema` whose "#…" $refs point below `base`; values (enum, const, default) are left alone. */
function rebase(schema: unknown, base: string): unknown {
  if (!isObject(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "$ref" && typeof v === "string" && v.startsWith("#")) out[k] = base + v.slice(1);
    else if (SCHEMA_MAPS.has(k) && isObject(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, rebase(s, base)]));
    } else if ((SCHEMA_LISTS.has(k) || k === "items") && Array.isArray(v)) out[k] = v.map((s) => rebase(s, base));
    else if (SCHEMA_ONE.has(k)) out[k] = rebase(v, base);
    else out[k] = v;
  }
  return out;
}

const ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** "call_" + 24 random letters and digits, like OpenAI's ids. */
export function newCallId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return "call_" + Array.from(bytes, (b) => ID_CHARS[b % ID_CHARS.length]).join("");
}

/**
 * Splits a finished assistant text into content and tool calls. Accepts a bare call object, an
 * array of them, several separated by whitespace, ',' or ';', a leading `<|python_tag|>`, and prose
 * followed by calls (the prose becomes content). Arguments are re-serialised compactly.
 */
export function parseToolCalls(
  text: string,
  tools: ToolDef[],
  newId: () => string = newCallId,
): { content: string | null; calls: ParsedToolCall[] } {
  const names = new Set(tools.map((t) => t.function.name));
  let tries = 0;
  for (let pos = 0; pos < text.length && tries < MAX_CALL_STARTS; pos++) {
    const c = text[pos];
    if (c !== "{" && c !== "[" && !text.startsWith(PYTHON_TAG, pos)) continue;
    // Not inside a word: the `{` of prose such as "f{x}" starts no call.
    if (pos > 0 && /[\p{L}\p{N}_]/u.test(text[pos - 1])) continue;
    tries++;
    const calls = parseCallList(text, pos, names, newId);
    if (calls !== null) {
      const content = text.slice(0, pos).trim();
      return { content: content === "" ? null : content, calls };
    }
  }
  return { content: text, calls: [] };
}

/** The calls that fill text[pos..] to its end, or null if anything else is there. */
function parseCallList(text: string, pos: number, names: Set<string>, newId: () => string): ParsedToolCall[] | null {
  const calls: ParsedToolCall[] = [];
  let i = pos;
  for (;;) {
    while (i < text.length && (/\s/.test(text[i]) || ((text[i] === ";" || text[i] === ",") && calls.length > 0))) i++;
    if (text.startsWith(PYTHON_TAG, i)) i += PYTHON_TAG.length;
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) return calls.length > 0 ? calls : null;
    const end = scanValue(text, i);
    if (end < 0) return null;
    let value: unknown;
    try {
      value = JSON.parse(text.slice(i, end));
    } catch {
      return null;
    }
    for (const v of Array.isArray(value) ? value : [value]) {
      const call = toCall(v, names, newId);
      if (call === null) return null;
      calls.push(call);
    }
    if (Array.isArray(value) && value.length === 0) return null;
    i = end;
  }
}

/** The end of the bracketed JSON value at text[i] ('{' or '['), matching brackets outside strings; −1 if none. */
function scanValue(text: string, i: number): number {
  if (text[i] !== "{" && text[i] !== "[") return -1;
  let depth = 0;
  let inString = false;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (inString) {
      if (c === "\\") j++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      if (--depth === 0) return j + 1;
    }
  }
  return -1;
}

/** {"name", "parameters" | "arguments"} (arguments may be a JSON string), or OpenAI's {"function": {...}} shape. */
function toCall(v: unknown, names: Set<string>, newId: () => string): ParsedToolCall | null {
  if (!isObject(v)) return null;
  const fn = isObject(v.function) ? v.function : v;
  const name = fn.name;
  if (typeof name !== "string" || !names.has(name)) return null;
  let args = "parameters" in fn ? fn.parameters : "arguments" in fn ? fn.arguments : {};
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      return null;
    }
  }
  if (!isObject(args)) return null;
  return { id: newId(), type: "function", function: { name, arguments: JSON.stringify(args) } };
}

/**
 * Streaming: feed text chunks as they are decoded. While only whitespace (or a prefix of the python
 * tag) has arrived it waits; once the first other character is '{', '[' or the tag, the output is
 * taken for a tool call and buffered until finish(), which emits the calls (or, if it did not parse
 * as calls after all, the buffered text as content). Anything else streams as content at once, so
 * prose followed by a call object stays content here (parseToolCalls on the whole text would split it).
 */
export class ToolCallStream {
  private mode: "undecided" | "content" | "call" = "undecided";
  private buffer = "";

  constructor(
    private readonly tools: ToolDef[],
    private readonly newId: () => string = newCallId,
  ) {}

  /** True while output is held back as a possible tool call. */
  get buffering(): boolean {
    return this.mode === "call";
  }

  push(text: string): Delta[] {
    if (this.mode === "content") return text === "" ? [] : [{ content: text }];
    this.buffer += text;
    if (this.mode === "call") return [];
    const lead = this.buffer.trimStart();
    if (lead === "") return [];
    if (lead[0] === "{" || lead[0] === "[" || lead.startsWith(PYTHON_TAG)) {
      this.mode = "call";
      return [];
    }
    if (PYTHON_TAG.startsWith(lead)) return [];
    this.mode = "content";
    const out = this.buffer;
    this.buffer = "";
    return [{ content: out }];
  }

  finish(): Delta[] {
    const text = this.buffer;
    this.buffer = "";
    if (text === "") return [];
    if (this.mode === "call") {
      const { content, calls } = parseToolCalls(text, this.tools, this.newId);
      if (calls.length > 0) {
        const deltas: Delta[] = content === null ? [] : [{ content }];
        deltas.push({
          toolCalls: calls.map((c, index) => ({
            index,
            id: c.id,
            type: "function" as const,
            function: { name: c.function.name, arguments: c.function.arguments },
          })),
        });
        return deltas;
      }
    }
    return [{ content: text }];
  }
}
