// The chat page: wires the conversation, the settings, the model's facts and the API-key prompt to the
// server's OpenAI-compatible API. Served at `/` by the server itself (see src/cli.ts); no network
// request leaves this origin.
import { ApiError, fetchModel, setApiKey, streamChat, apiKey, type ChatRequest, type ModelFacts } from "./api.ts";
import { MessageView } from "./message-view.ts";
import { DEFAULT_SETTINGS, loadChat, loadSettings, saveChat, saveSettings, type Message, type ReplyStats, type Settings } from "./store.ts";

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page lacks #${id}`);
  return el as T;
}

const ui = {
  modelName: $<HTMLParagraphElement>("model-name"),
  newChat: $<HTMLButtonElement>("new-chat"),
  log: $<HTMLOListElement>("log"),
  empty: $<HTMLParagraphElement>("empty"),
  composer: $<HTMLFormElement>("composer"),
  prompt: $<HTMLTextAreaElement>("prompt"),
  send: $<HTMLButtonElement>("send"),
  stop: $<HTMLButtonElement>("stop"),
  status: $<HTMLParagraphElement>("status"),
  keyForm: $<HTMLFormElement>("key-form"),
  keyReason: $<HTMLParagraphElement>("key-reason"),
  keyInput: $<HTMLInputElement>("key-input"),
  settingsPanel: $<HTMLDetailsElement>("settings-panel"),
  modeAr: $<HTMLInputElement>("mode-ar"),
  modeDlm: $<HTMLInputElement>("mode-dlm"),
  threshold: $<HTMLInputElement>("threshold"),
  temperature: $<HTMLInputElement>("temperature"),
  topP: $<HTMLInputElement>("top-p"),
  maxTokens: $<HTMLInputElement>("max-tokens"),
  facts: $<HTMLDListElement>("facts"),
};

let messages: Message[] = loadChat();
let settings: Settings = loadSettings();
let model: ModelFacts | null = null;
let running: AbortController | null = null;

// ───────────────────────────── settings ─────────────────────────────

function showSettings(): void {
  ui.modeAr.checked = !settings.dlm;
  ui.modeDlm.checked = settings.dlm;
  ui.threshold.value = String(settings.threshold);
  ui.threshold.disabled = !settings.dlm;
  ui.temperature.value = String(settings.temperature);
  ui.topP.value = String(settings.topP);
  ui.maxTokens.value = String(settings.maxTokens);
}

/** A field's number within its input's own min/max, or the default when it is not a number. */
function field(input: HTMLInputElement, fallback: number, integer = false): number {
  let v = Number(input.value);
  if (input.value.trim() === "" || !Number.isFinite(v)) return fallback;
  if (integer) v = Math.round(v);
  if (input.min !== "") v = Math.max(Number(input.min), v);
  if (input.max !== "") v = Math.min(Number(input.max), v);
  return v;
}

function readSettings(): void {
  settings = {
    dlm: ui.modeDlm.checked,
    threshold: field(ui.threshold, DEFAULT_SETTINGS.threshold),
    temperature: field(ui.temperature, DEFAULT_SETTINGS.temperature),
    topP: field(ui.topP, DEFAULT_SETTINGS.topP),
    maxTokens: field(ui.maxTokens, DEFAULT_SETTINGS.maxTokens, true),
  };
  ui.threshold.disabled = !settings.dlm;
  saveSettings(settings);
}

// ───────────────────────────── the model ─────────────────────────────

const FACTS: [string, string, (v: unknown) => string][] = [
  ["engine", "Engine", String],
  ["arch", "Architecture", String],
  ["format", "Weights", String],
  ["n_ctx", "Context", (v) => `${v} tokens`],
  ["n_ctx_train", "Trained context", (v) => `${v} tokens`],
  ["n_layers", "Layers", String],
  ["n_embd", "Width", String],
  ["n_vocab", "Vocabulary", String],
  ["n_parallel", "Parallel sequences", String],
  ["size_bytes", "File size", (v) => `${(Number(v) / 2 ** 20).toFixed(1)} MiB`],
  ["mask_token", "Mask token", String],
];

function showFacts(m: ModelFacts): void {
  ui.modelName.textContent = m.id;
  ui.facts.replaceChildren();
  for (const [key, label, fmt] of FACTS) {
    const v = m.meta[key];
    if (v === undefined || v === null) continue;
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.fact = key;
    dd.textContent = fmt(v);
    ui.facts.append(dt, dd);
  }
  const nCtx = Number(m.meta.n_ctx);
  if (nCtx > 0) ui.maxTokens.max = String(nCtx);
}

async function loadModel(): Promise<void> {
  for (;;) {
    try {
      model = await fetchModel();
      if (!model.meta.loading) {
        showFacts(model);
        return;
      }
      ui.modelName.textContent = `${model.id} (loading…)`;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        await askKey(e.message);
        continue;
      }
      ui.modelName.textContent = `cannot reach the server: ${(e as Error).message}`;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// ───────────────────────────── the API key ─────────────────────────────

let keyWait: Promise<void> | null = null;
let keyDone: (() => void) | null = null;

/** Shows the key form (once for all callers waiting) and resolves when a key was entered. */
function askKey(reason: string): Promise<void> {
  if (keyWait) return keyWait;
  ui.keyReason.textContent = apiKey()
    ? `The key was not accepted (${reason}). Enter another; it is kept for this browser session only.`
    : "This server requires an API key. It is kept for this browser session only.";
  ui.keyForm.hidden = false;
  if (!model) ui.modelName.textContent = "waiting for an API key…";
  ui.keyInput.value = "";
  ui.keyInput.focus();
  keyWait = new Promise((resolve) => (keyDone = resolve));
  return keyWait;
}

ui.keyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const key = ui.keyInput.value.trim();
  if (!key) return;
  setApiKey(key);
  ui.keyForm.hidden = true;
  const done = keyDone;
  keyWait = keyDone = null;
  done?.();
  ui.prompt.focus();
});

// ───────────────────────────── the conversation ─────────────────────────────

function renderLog(): void {
  ui.log.replaceChildren(...messages.map((m) => new MessageView(m).li));
  ui.empty.hidden = messages.length > 0;
  scrollToEnd(true);
}

function scrollToEnd(force = false): void {
  const el = document.scrollingElement ?? document.documentElement;
  const near = el.scrollHeight - el.scrollTop - el.clientHeight < 120;
  if (force || near) ui.composer.scrollIntoView({ block: "end" });
}

function setRunning(ac: AbortController | null): void {
  running = ac;
  ui.stop.disabled = ac === null;
  ui.send.disabled = ac !== null;
  ui.log.setAttribute("aria-busy", String(ac !== null));
}

async function send(): Promise<void> {
  const text = ui.prompt.value.trim();
  if (!text || running) return;
  readSettings();
  ui.prompt.value = "";
  const user: Message = { role: "user", content: text };
  messages.push(user);
  ui.log.append(new MessageView(user).li);
  ui.empty.hidden = true;
  saveChat(messages);
  await reply();
}

/** Generates the reply to the conversation so far, streaming it into a new message. */
async function reply(): Promise<void> {
  const history = messages.filter((m) => m.content !== "" && !m.error).map((m) => ({ role: m.role, content: m.content }));
  const dlm = settings.dlm;
  const m: Message = { role: "assistant", content: "", blocks: dlm ? [] : undefined };
  messages.push(m);
  const view = new MessageView(m);
  ui.log.append(view.li);
  scrollToEnd(true);
  const ac = new AbortController();
  setRunning(ac);
  view.setStreaming(true);
  ui.status.textContent = "Generating…";

  const req: ChatRequest = {
    model: model?.id,
    messages: history,
    temperature: settings.temperature,
    top_p: settings.topP,
    max_tokens: settings.maxTokens,
    dlm: dlm ? { threshold: settings.threshold } : false,
  };

  // Figures measured here: time to the first token, then tokens/s over what came after it.
  let t0 = performance.now();
  let tFirst: number | null = null;
  let firstTokens = 0;
  let tokens = 0;
  let finalTokens: number | null = null;
  let tokensPerPass: number | null = null;
  const stats = (now: number): ReplyStats => {
    const n = finalTokens ?? tokens;
    const dt = tFirst === null ? 0 : (now - tFirst) / 1000;
    return {
      mode: dlm ? "dlm" : "ar",
      tokens: n,
      ttftMs: tFirst === null ? null : tFirst - t0,
      tokensPerS: dt > 0.001 && n > firstTokens ? (n - firstTokens) / dt : null,
      tokensPerPass,
    };
  };
  let frame = 0;
  const refresh = () => {
    frame = 0;
    view.setText(m.content);
    view.setFigures(stats(performance.now()), null);
    scrollToEnd();
  };
  const arrived = (n: number) => {
    tokens += n;
    if (tFirst === null) {
      tFirst = performance.now();
      firstTokens = tokens;
    }
    if (!frame) frame = requestAnimationFrame(refresh);
  };

  for (;;) {
    try {
      for await (const ev of streamChat(req, ac.signal)) {
        if (ev.type === "text") {
          m.content += ev.text;
          // With diffusion the block event already counted these tokens.
          arrived(dlm ? 0 : 1);
        } else if (ev.type === "block") {
          m.blocks?.push(ev.block);
          view.addBlock(ev.block);
          arrived(ev.block.pieces.length);
        } else if (ev.type === "finish") {
          m.finish = ev.reason;
        } else if (ev.type === "usage") {
          finalTokens = ev.completionTokens;
          tokensPerPass = ev.timings?.tokens_per_pass ?? null;
        }
      }
      m.finish ??= "stop";
    } catch (e) {
      if (ac.signal.aborted) {
        m.finish = "stopped";
      } else if (e instanceof ApiError && e.status === 401 && tFirst === null) {
        ui.status.textContent = "Waiting for the API key…";
        const aborted = new Promise<void>((resolve) => ac.signal.addEventListener("abort", () => resolve(), { once: true }));
        await Promise.race([askKey(e.message), aborted]);
        if (!ac.signal.aborted) {
          t0 = performance.now();
          ui.status.textContent = "Generating…";
          continue;
        }
        m.finish = "stopped";
      } else {
        m.finish = "error";
        m.error = (e as Error).message;
        view.setError(m.error);
      }
    }
    break;
  }
  if (frame) cancelAnimationFrame(frame);
  m.stats = stats(performance.now());
  view.setText(m.content);
  view.setFigures(m.stats, m.finish ?? null);
  view.setStreaming(false);
  setRunning(null);
  ui.status.textContent = m.finish === "stopped" ? "Stopped." : m.finish === "error" ? "The request failed." : "Done.";
  saveChat(messages);
  scrollToEnd();
}

function stop(): void {
  running?.abort();
}

function newChat(): void {
  stop();
  messages = [];
  saveChat(messages);
  renderLog();
  ui.status.textContent = "New chat.";
  ui.prompt.focus();
}

// ───────────────────────────── events ─────────────────────────────

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  void send();
});
ui.prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && !e.isComposing) {
    e.preventDefault();
    void send();
  }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && running) {
    e.preventDefault();
    stop();
  }
});
ui.stop.addEventListener("click", stop);
ui.newChat.addEventListener("click", newChat);
$<HTMLFormElement>("settings").addEventListener("change", readSettings);
$<HTMLFormElement>("settings").addEventListener("submit", (e) => e.preventDefault());

// On a narrow screen the settings are folded so the conversation has the room.
const narrow = matchMedia("(max-width: 760px)");
ui.settingsPanel.open = !narrow.matches;
narrow.addEventListener("change", () => (ui.settingsPanel.open = !narrow.matches));
showSettings();
renderLog();
void loadModel();
ui.prompt.focus();
