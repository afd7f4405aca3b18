// renderChat tests: a Llama-3 and a ChatML template, BitNet's "Role: " layout, a template that
// raises, broken templates, the fallback, message adaptation and template variables.

import { describe, expect, test } from "bun:test";
import { BITNET_CHAT_TEMPLATE, ChatTemplateError, DEFAULT_CHAT_TEMPLATE, renderChat, type ChatMessage } from "./template.ts";

// Written for these tests in the shape of Meta's Llama-3 Instruct template.
const LLAMA3 =
  "{% set loop_messages = messages %}{% for message in loop_messages %}" +
  "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}" +
  "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

const CHATML = `{% for message in messages %}{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{% endfor %}
{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}`;

// Roles must alternate user/assistant after an optional system message (Mistral-style guard).
const STRICT = `{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}
{%- for message in loop_messages %}
{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}
{{- '[' + message['role'] + '] ' + message['content'] + '\\n' }}
{%- endfor %}`;

const LLAMA3_OPTS = { bosToken: "<|begin_of_text|>", eosToken: "<|eot_id|>", addGenerationPrompt: true };

const chat: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "  Hi there!  " },
  { role: "assistant", content: "Hello." },
  { role: "user", content: "Bye" },
];

describe("model templates", () => {
  test("Llama-3", () => {
    expect(renderChat(LLAMA3, chat, LLAMA3_OPTS)).toBe(
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    );
    const noPrompt = renderChat(LLAMA3, chat.slice(0, 2), { ...LLAMA3_OPTS, addGenerationPrompt: false });
    expect(noPrompt.endsWith("Hi there!<|eot_id|>")).toBe(true);
  });

  test("ChatML (attribute access, whitespace control)", () => {
    const out = renderChat(CHATML, chat.slice(1, 3), { bosToken: "<s>", eosToken: "</s>", addGenerationPrompt: true });
    expect(out).toBe("<|im_start|>user\n  Hi there!  <|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>assistant\n");
  });

  test("BitNet b1.58 2B-4T layout", () => {
    expect(renderChat(BITNET_CHAT_TEMPLATE, chat, LLAMA3_OPTS)).toBe(
      "<|begin_of_text|>System: You are terse.<|eot_id|>User:   Hi there!  <|eot_id|>Assistant: Hello.<|eot_id|>User: Bye<|eot_id|>Assistant: ",
    );
  });
});

describe("errors", () => {
  test("raise_exception in the template becomes ChatTemplateError of kind 'raised'", () => {
    const bad: ChatMessage[] = [
      { role: "user", content: "a" },
      { role: "user", content: "b" },
    ];
    let err: unknown;
    try {
      renderChat(STRICT, bad, LLAMA3_OPTS);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChatTemplateError);
    expect((err as ChatTemplateError).kind).toBe("raised");
    expect((err as ChatTemplateError).message).toBe("Conversation roles must alternate user/assistant/user/assistant/...");
    // The same template accepts an alternating conversation.
    expect(renderChat(STRICT, chat, LLAMA3_OPTS)).toBe("[user]   Hi there!  \n[assistant] Hello.\n[user] Bye\n");
  });

  test("a template that does not parse is kind 'parse'", () => {
    for (const broken of ["{% for m in %}{{ m }}{% endfor %}", "{% if x %}unclosed", "{{ 'open"]) {
      expect(() => renderChat(broken, chat, LLAMA3_OPTS)).toThrow(ChatTemplateError);
      try {
        renderChat(broken, chat, LLAMA3_OPTS);
      } catch (e) {
        expect((e as ChatTemplateError).kind).toBe("parse");
      }
    }
  });

  test("a runtime failure is kind 'render'", () => {
    try {
      renderChat("{{ messages[0].content.nope() }}", chat, LLAMA3_OPTS);
      throw new Error("expected a ChatTemplateError");
    } catch (e) {
      expect(e).toBeInstanceOf(ChatTemplateError);
      expect((e as ChatTemplateError).kind).toBe("render");
    }
  });
});

describe("fallback", () => {
  test("no template: Llama-3 headers after bos_token", () => {
    const out = renderChat(null, chat.slice(1, 2), LLAMA3_OPTS);
    expect(out).toBe("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    expect(renderChat(DEFAULT_CHAT_TEMPLATE, chat, LLAMA3_OPTS)).toBe(renderChat(LLAMA3, chat, LLAMA3_OPTS));
 
    // A tool-call turn (null content) renders as an empty turn instead of failing on `trim`.
    const call: ChatMessage = { role: "assistant", content: null, tool_calls: [] };
    expect(renderChat(null, [call], { ...LLAMA3_OPTS, addGenerationPrompt: false })).toBe(
      "<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\n<|eot_id|>",
    );
  });
});

describe("messages and variables", () => {
  test("text parts are joined with newlines; null content becomes empty text", () => {
    const msgs: ChatMessage[] = [
      { role: "user", content: [{ type: "text", text: "one" }, { type: "text", text: "two" }] },
      { role: "assistant", content: null },
    ];
    expect(renderChat(CHATML, msgs, { ...LLAMA3_OPTS, addGenerationPrompt: false })).toBe(
      "<|im_start|>user\none\ntwo<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n",
    );
  });

  test("tool calls keep a null content and pass through; tools default to none", () => {
    const tpl =
      "{% if tools is not none %}TOOLS={{ tools | length }};{% endif %}" +
      "{% for m in messages %}{{ m.role }}:{% if m.content is none %}<none>{% else %}{{ m.content }}{% endif %}" +
      "{% if m.tool_calls %}{% for c in m.tool_calls %}[{{ c.function.name }}({{ c.function.arguments }})]{% endfor %}{% endif %}" +
      "{% if m.tool_call_id %}#{{ m.tool_call_id }}{% endif %}|{% endfor %}";
    const msgs: ChatMessage[] = [
      { role: "user", content: "weather?" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "get", arguments: '{"city":"Oslo"}' } }] },
      { role: "tool", content: "rain", tool_call_id: "c1" },
    ];
    const opts = { ...LLAMA3_OPTS, addGenerationPrompt: false };
    expect(renderChat(tpl, msgs, opts)).toBe('user:weather?|assistant:<none>[get({"city":"Oslo"})]|tool:rain#c1|');
    expect(renderChat(tpl, msgs.slice(0, 1), { ...opts, tools: [{ type: "function" }, { type: "function" }] })).toBe(
      "TOOLS=2;user:weather?|",
    );
  });

  test("extra variables reach the template but cannot override the standard ones", () => {
    const tpl = "{{ date_string }}/{{ bos_token }}/{{ messages | length }}";
    const extra = { date_string: "26 Jul 2024", bos_token: "X", messages: [], raise_exception: 1, range: 2 };
    const out = renderChat(tpl, chat, { ...LLAMA3_OPTS, extra });
    expect(out).toBe("26 Jul 2024/<|begin_of_text|>/4");
  });

  test("Llama-3.1-style preamble: date default, namespace, range, tojson", () => {
    const tpl =
      '{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}' +
      "{%- set ns = namespace(n=0) %}{%- for i in range(3) %}{%- set ns.n = ns.n + i %}{%- endfor %}" +
      "{{ date_string }}|{{ ns.n }}|{{ messages[0] | tojson }}";
    const out = renderChat(tpl, [{ role: "user", content: "q" }], LLAMA3_OPTS);
    expect(out).toMatch(/^\d{2} [A-Z][a-z]{2} \d{4}\|3\|\{"role": ?"user", ?"content": ?"q"\}$/);
  });

  test("name is visible to templates that use it", () => {
    const out = renderChat("{% for m in messages %}{{ m.name }}{% endfor %}", [{ role: "user", content: "x", name: "ann" }], LLAMA3_OPTS);
    expect(out).toBe("ann");
  });
});
