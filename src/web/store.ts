// What the page keeps in localStorage: the conversation (with each reply's figures and diffusion
// blocks) and the settings. Storage failures (quota, private mode) never break the chat.
import type { DlmBlock } from "./api.ts";

const CHAT_ITEM = "ternary-serve.chat.v1";
const SETTINGS_ITEM = "ternary-serve.settings.v1";
/** Beyond this many characters of JSON, older replies lose their block views first. */
const CHAT_BUDGET = 2_000_000;

export interface ReplyStats {
  tokens: number;
  ttftMs: number | null;
  tokensPerS: number | null;
  tokensPerPass: number | null;
  mode: "ar" | "dlm";
}

export interface Message {
  role: "user" | "assistant";
  content: string;
  /** Assistant replies: how it ended (`stop`, `length`, `stopped` by the user, `error`). */
  finish?: string;
  error?: string;
  stats?: ReplyStats;
  blocks?: DlmBlock[];
}

export interface Settings {
  temperature: number;
  topP: number;
  maxTokens: number;
  dlm: boolean;
  threshold: number;
}

export const DEFAULT_SETTINGS: Settings = { temperature: 0.8, topP: 0.95, maxTokens: 256, dlm: false, threshold: 0.9 };

function read<T>(item: string): T | null {
  try {
    const s = localStorage.getItem(item);
    return s ? (JSON.parse(s) as T) : null;
  } catch {
    return null;
  }
}

function write(item: string, value: unknown): boolean {
  try {
    localStorage.setItem(item, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

export function loadChat(): Message[] {
  const m = read<Message[]>(CHAT_ITEM);
  return Array.isArray(m) ? m.filter((x) => x && (x.role === "user" || x.role === "assistant") && typeof x.content === "string") : [];
}

export function saveChat(messages: Message[]): void {
  let kept = messages;
  for (let i = 0; JSON.stringify(kept).length > CHAT_BUDGET && i < kept.length; i++) {
    kept = kept.map((m, j) => (j <= i ? { ...m, blocks: undefined } : m));
  }
  if (!write(CHAT_ITEM, kept)) write(CHAT_ITEM, kept.map((m) => ({ ...m, blocks: undefined })));
}

export function loadSettings(): Settings {
  const s = read<Partial<Settings>>(SETTINGS_ITEM) ?? {};
  const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
  return {
    temperature: num(s.temperature, DEFAULT_SETTINGS.temperature),
    topP: num(s.topP, DEFAULT_SETTINGS.topP),
    maxTokens: num(s.maxTokens, DEFAULT_SETTINGS.maxTokens),
    dlm: typeof s.dlm === "boolean" ? s.dlm : DEFAULT_SETTINGS.dlm,
    threshold: num(s.threshold, DEFAULT_SETTINGS.threshold),
  };
}

export function saveSettings(s: Settings): void {
  write(SETTINGS_ITEM, s);
}
