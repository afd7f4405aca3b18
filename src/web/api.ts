// The page's side of the HTTP API: same-origin requests with the session's API key, OpenAI-shaped
// errors turned into messages, and the streamed chat completion as typed events.
import { sseData } from "./sse.ts";

const KEY_ITEM = "ternary-serve.api-key";

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

export function setApiKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key);
}

function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  const key = apiKey();
  if (key) h.authorization = `Bearer ${key}`;
  if (json) h["content-type"] = "application/json";
  return h;
}

async function failure(r: Response): Promise<ApiError> {
  let message = `${r.status} ${r.statusText}`;
  try {
    const body = (await r.json()) as { error?: { message?: string } };
    if (body.error?.message) message = body.error.message;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(r.status, message);
}

/** Facts about the served model (`GET /v1/models`, `data[0].meta`). */
export interface ModelFacts {
  id: string;
  meta: Record<string, unknown> & { loading?: boolean };
}

export async function fetchModel(): Promise<ModelFacts> {
  const r = await fetch("/v1/models", { headers: headers(false) });
  if (!r.ok) throw await failure(r);
  const body = (await r.json()) as { data: ModelFacts[] };
  return body.data[0];
}

export interface DlmBlock {
  choice: number;
  block: number;
  steps: number;
  pieces: { text: string; step: number }[];
}

export interface Timings {
  generation_tokens_per_s?: number;
  prompt_ms?: number;
  forward_passes?: number;
  tokens_per_pass?: number;
  steps_per_block?: number;
  [k: string]: number | undefined;
}

export type ChatEvent =
  | { type: "text"; text: string }
  | { type: "block"; block: DlmBlock }
  | { type: "finish"; reason: string }
  | { type: "usage"; completionTokens: number; promptTokens: number; timings: Timings | null };

export interface ChatRequest {
  /** Absent until the model's id is known (the server accepts that). */
  model?: string;
  messages: { role: string; content: string }[];
  temperature: number;
  top_p: number;
  max_tokens: number;
  dlm: false | { threshold: number };
}

/** Streams one chat completion; aborting `signal` closes the connection, which cancels the generation. */
export async function* streamChat(req: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatEvent> {
  const r = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers(true),
    body: JSON.stringify({ ...req, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!r.ok || !r.body) throw await failure(r);
  for await (const data of sseData(r.body)) {
    const chunk = JSON.parse(data);
    if (chunk.error) throw new ApiError(500, chunk.error.message ?? "the generation failed");
    if (chunk.dlm_block) yield { type: "block", block: chunk.dlm_block };
    for (const c of chunk.choices ?? []) {
      if (c.delta?.content) yield { type: "text", text: c.delta.content };
      if (c.finish_reason) yield { type: "finish", reason: c.finish_reason };
    }
    if (chunk.usage) {
      yield {
        type: "usage",
        completionTokens: chunk.usage.completion_tokens,
        promptTokens: chunk.usage.prompt_tokens,
        timings: chunk.timings ?? null,
      };
    }
  }
}
