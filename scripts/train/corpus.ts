// The training documents: the mixture of chat exchanges (tasks, stories, small talk, multi-turn) and
// plain stories, and each token's loss class. The held-out evaluation prompts never enter it.

import { Gen } from "./gen.ts";
import { smallTalk, story, storyRequest } from "./stories.ts";
import { task, taskWeights, type Boost, type Task } from "./tasks.ts";

export type Role = "system" | "user" | "assistant";

/**
 * Loss class of a token as a prediction target (train.py maps classes to weights):
 * 0 never predicted (BOS, padding), 1 template and user/system text, 2 open-ended assistant text
 * (stories, small talk) and plain stories, 3 task answers (checkable, exact).
 */
export type LossClass = 0 | 1 | 2 | 3;

export interface Message {
  role: Role;
  content: string;
  cls: LossClass; // the class of this message's content and its closing <|eot_id|>
}

export type Doc = { kind: "chat"; messages: Message[] } | { kind: "plain"; text: string };

const SYSTEM_PROMPTS = [
  "You are a helpful assistant.",
  "You are a small, friendly assistant.",
  "You are a helpful assistant. Answer briefly.",
];

export class Corpus {
  private readonly g: Gen;
  private readonly weights: number[];
  constructor(
    seed: number,
    private readonly heldOut: ReadonlySet<string>,
    boost: Boost = {},
  ) {
    this.g = new Gen(seed);
    this.weights = taskWeights(boost);
  }

  /** A task whose prompt is not in the held-out set. */
  private task(): Task {
    for (;;) {
      const t = task(this.g, this.weights);
      if (!this.heldOut.has(t.prompt)) return t;
    }
  }

  private turn(kind: number): Message[] {
    const g = this.g;
    if (kind === 0) {
      const t = this.task();
      return [{ role: "user", content: t.prompt, cls: 1 }, { role: "assistant", content: t.answer, cls: 3 }];
    }
    if (kind === 1) {
      const r = storyRequest(g);
      return [{ role: "user", content: r.prompt, cls: 1 }, { role: "assistant", content: story(g, r.topic), cls: 2 }];
    }
    const s = smallTalk(g);
    return [{ role: "user", content: s.user, cls: 1 }, { role: "assistant", content: s.assistant, cls: 2 }];
  }

  next(): Doc {
    const g = this.g;
    // Mixture by documents: 55% one task, 15% a story on request, 10% small talk, 10% several turns,
    // 10% a plain story (text completion, ends with <|end_of_text|>).
    const k = g.weighted([55, 15, 10, 10, 10]);
    if (k === 4) return { kind: "plain", text: story(g) };
    const messages: Message[] = [];
    if (g.chance(0.1)) messages.push({ role: "system", content: g.pick(SYSTEM_PROMPTS), cls: 1 });
    if (k === 3) {
      const n = g.int(2, 3);
      for (let i = 0; i < n; i++) messages.push(...this.turn(g.weighted([6, 1, 3])));
    } else messages.push(...this.turn(k === 0 ? 0 : k === 1 ? 1 : 2));
    return { kind: "chat", messages };
  }
}

/** The user prompts of a document (for the held-out overlap check). */
export function userPrompts(d: Doc): string[] {
  return d.kind === "chat" ? d.messages.filter((m) => m.role === "user").map((m) => m.content) : [];
}

/** The held-out evaluation set: `perFamily` distinct tasks of every family, from its own seed. */
export function evalSet(seed: number, perFamily: number): Task[] {
  const g = new Gen(seed);
  const byFamily = new Map<string, Task[]>();
  const seen = new Set<string>();
  const families = new Set<string>();
  for (let i = 0; i < 1000; i++) families.add(task(g).family);
  for (let tries = 0; tries < 1_000_000; tries++) {
    const t = task(g);
    if (seen.has(t.prompt)) continue;
    const list = byFamily.get(t.family) ?? [];
    if (list.length >= perFamily) continue;
    list.push(t);
    seen.add(t.prompt);
    byFamily.set(t.family, list);
    if ([...families].every((f) => (byFamily.get(f)?.length ?? 0) >= perFamily)) break;
  }
  return [...families].sort().flatMap((f) => byFamily.get(f) ?? []);
}
