// Chat messages → prompt text through the model's own Jinja template (GGUF `tokenizer.chat_template`),
// with a Llama-3 fallback for models that carry none, and one error type for templates that fail.
//
// Fallback choice: the BitNet b1.58 models served here use the Llama-3 BPE vocabulary, where
// `<|start_header_id|>`, `<|end_header_id|>` and `<|eot_id|>` are real special tokens, so the Llama-3
// layout tokenizes into the markers the vocabulary knows (ChatML's `<|im_start|>` would become plain
// text). It renders, for each message:
//   <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
// after `bos_token`, and `<|start_header_id|>assistant<|end_header_id|>\n\n` when a reply is wanted.

import { Template } from "@huggingface/jinja";

export interface ChatTextPart {
  type: "text";
  text: string;
}

export interface ChatMessage {
  role: string;
  content: string | ChatTextPart[] | null;
  name?: string;
  tool_calls?: unknown;
  tool_call_id?: string;
}

export interface RenderChatOptions {
  bosToken: string;
  eosToken: string;
  /** End with the header of an assistant turn, so the model writes the reply. */
  addGenerationPrompt: boolean;
  /** OpenAI-style tool definitions, passed to the template as `tools` (null when absent). */
  tools?: unknown[];
  /** More template variables (e.g. `date_string`); they cannot override the ones above or the globals. */
  extra?: Record<string, unknown>;
}

/**
 * Why a template failed: `parse` (the template itself is broken: a model problem), `raised` (the
 * template's own `raise_exception`, e.g. roles that do not alternate: a request problem) or `render`
 * (a runtime error while rendering these messages).
 */
export type ChatTemplateErrorKind = "parse" | "raised" | "render";

export class ChatTemplateError extends Error {
  override readonly name = "ChatTemplateError";
  constructor(
    readonly kind: ChatTemplateErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The template used when the model has none; see the module header for why Llama-3. */
export const DEFAULT_CHAT_TEMPLATE =
  "{{ bos_token }}" +
  "{% for message in messages %}" +
  "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}" +
  "{% if message['content'] is not none %}{{ message['content'] | trim }}{% endif %}" +
  "{{ '<|eot_id|>' }}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/**
 * The layout BitNet b1.58 2B-4T was tuned on ("User: …<|eot_id|>Assistant: "), for callers that
 * must replace a missing or unusable template on that model; not used unless passed in.
 */
export const BITNET_CHAT_TEMPLATE =
  "{% for message in messages %}" +
  "{% if loop.first %}{{ bos_token }}{% endif %}" +
  "{% if message['role'] == 'system' %}{{ 'System: ' + message['content'] + '<|eot_id|>' }}" +
  "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '<|eot_id|>' }}" +
  "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + '<|eot_id|>' }}" +
  "{% endif %}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}";

/** Thrown by our `raise_exception`, so its message is told apart from interpreter errors. */
class TemplateRaised extends Error {}

/**
 * The library declares its own `raise_exception` (throwing a plain Error, like every interpreter
 * error) and refuses a second declaration, so calls in the template are renamed to ours at compile.
 */
const RAISE = "__chat_raise_exception";

/** Renames every Identifier `from` in a parsed template to `to` (the AST is plain nested objects). */
function renameIdentifier(node: unknown, from: string, to: string, seen = new Set<object>()): void {
  if (node === null || typeof node !== "object" || seen.has(node)) return;
  seen.add(node);
  if (Array.isArray(node)) {
    for (const child of node) renameIdentifier(child, from, to, seen);
    return;
  }
  const rec = node as Record<string, unknown>;
  if (rec.type === "Identifier" && rec.value === from) rec.value = to;
  for (const key of Object.keys(rec)) renameIdentifier(rec[key], from, to, seen);
}

/** Parsed templates by source: a process serves one model, so this stays tiny, and parsing is not free. */
const compiled = new Map<string, Template>();
const COMPILED_MAX = 8;

function compile(source: string): Template {
  const hit = compiled.get(source);
  if (hit) return hit;
  let template: Template;
  try {
    template = new Template(source);
  } catch (err) {
    throw new ChatTemplateError("parse", `chat template does not parse: ${messageOf(err)}`, { cause: err });
  }
  renameIdentifier(template.parsed, "raise_exception", RAISE);
  if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value!);
  compiled.set(source, template);
  return template;
}

/**
 * Renders `messages` with the model's template (or the Llama-3 fallback when `template` is null).
 *
 * Messages are adapted the way llama.cpp's server does before templating: text parts of an array
 * content are joined with "\n" (most templates expect a string), and a null content becomes "" unless
 * the message carries tool calls (templates test `content is none` there). `tool_calls` pass through
 * unchanged, with `function.arguments` as the JSON string OpenAI sends.
 *
 * The text begins with `bos_token` when the template writes it (most do, the fallback too), so
 * tokenize it with `addSpecial: false, parseSpecial: true`, or BOS is doubled.
 */
export function renderChat(
  template: string | null,
  messages: ChatMessage[],
  opts: RenderChatOptions,
): string {
  const compiledTemplate = compile(template ?? DEFAULT_CHAT_TEMPLATE);
  const vars: Record<string, unknown> = {
    ...withoutGlobals(opts.extra),
    messages: messages.map(adaptMessage),
    bos_token: opts.bosToken,
    eos_token: opts.eosToken,
    add_generation_prompt: opts.addGenerationPrompt,
    // transformers passes tools=None when there are none; templates test `tools is not none`.
    tools: opts.tools ?? null,
    [RAISE]: (message: unknown) => {
      throw new TemplateRaised(String(message));
    },
  };
  try {
    return compiledTemplate.render(vars);
  } catch (err) {
    if (err instanceof TemplateRaised) throw new ChatTemplateError("raised", err.message, { cause: err });
    const message = `chat template failed to render: ${messageOf(err)}`;
    throw new ChatTemplateError("render", message, { cause: err });
  }
}

/**
 * Whether a rendered chat prompt still needs the tokenizer to add BOS: only when the model wants one
 * and the template did not write it itself (most templates do).
 */
export function needsBos(rendered: string, model: { addBos: boolean; bosText: string }): boolean {
  return model.addBos && !(model.bosText !== "" && rendered.startsWith(model.bosText));
}

/** The library's own globals: declaring one again is an error, so extra variables may not. */
const LIBRARY_GLOBALS = new Set([
  "raise_exception",
  "range",
  "strftime_now",
  "namespace",
  "true",
  "false",
  "none",
  "True",
  "False",
  "None",
]);

function withoutGlobals(extra: Record<string, unknown> | undefined): Record<string, unknown> {
  if (extra === undefined) return {};
  return Object.fromEntries(Object.entries(extra).filter(([key]) => !LIBRARY_GLOBALS.has(key)));
}

function adaptMessage(msg: ChatMessage): Record<string, unknown> {
  let content: string | null;
  if (msg.content === null || msg.content === undefined) content = msg.tool_calls !== undefined ? null : "";
  else if (typeof msg.content === "string") content = msg.content;
  else content = msg.content.filter((part) => part.type === "text").map((part) => part.text).join("\n");
  const out: Record<string, unknown> = { role: msg.role, content };
  if (msg.name !== undefined) out.name = msg.name;
  if (msg.tool_calls !== undefined) out.tool_calls = msg.tool_calls;
  if (msg.tool_call_id !== undefined) out.tool_call_id = msg.tool_call_id;
  return out;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
