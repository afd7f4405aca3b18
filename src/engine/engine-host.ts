// The HTTP thread's handle on the engine worker: starts it, forwards jobs, turns worker events into an
// async stream per job, and cancels a job when its client goes away. Never blocks on native code.
import { compiled } from "./embedded.ts";
import type { ModelInfo } from "./engine.ts";
import { EngineError } from "./errors.ts";
import type { FromWorker, Job, JobEvent, ToWorker, WorkerConfig } from "./protocol.ts";

/** What the server needs from an engine; EngineHost is the real one, tests may pass a fake. */
export interface EngineClient {
  readonly info: ModelInfo | null;
  readonly kind: "native" | "llama";
  readonly stats: { queued: number; active: number };
  generate(job: Job, signal: AbortSignal): AsyncIterable<JobEvent>;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Promise<number[]>;
  detokenize(tokens: number[]): Promise<string>;
  close(): Promise<void>;
}

/** An unbounded single-consumer queue: the worker pushes, the route's for-await pulls. */
class EventQueue implements AsyncIterable<JobEvent> {
  private items: JobEvent[] = [];
  private wake: (() => void) | null = null;
  private ended = false;

  push(e: JobEvent): void {
    this.items.push(e);
    if (e.type === "done" || e.type === "error") this.ended = true;
    this.wake?.();
    this.wake = null;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JobEvent> {
    for (;;) {
      while (this.items.length > 0) {
        const e = this.items.shift()!;
        yield e;
        if (e.type === "done" || e.type === "error") return;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

export class EngineHost implements EngineClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly jobs = new Map<number, EventQueue>();
  private readonly replies = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  info: ModelInfo | null = null;
  stats = { queued: 0, active: 0 };
  private readyPromise: Promise<ModelInfo>;

  constructor(readonly config: WorkerConfig) {
    // In the executable (scripts/build.ts, root = the repository) the worker is its own embedded entry.
    this.worker = new Worker(compiled ? "./src/engine/worker.ts" : new URL("./worker.ts", import.meta.url).href);
    let resolveReady!: (i: ModelInfo) => void;
    let rejectReady!: (e: Error) => void;
    this.readyPromise = new Promise((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    this.readyPromise.catch(() => {}); // observed through ready()
    this.worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      switch (m.op) {
        case "ready":
          this.info = m.info;
          resolveReady(m.info);
          return;
        case "init-error":
          rejectReady(EngineError.fromWire(m.error));
          return;
        case "event": {
          const q = this.jobs.get(m.id);
          if (!q) return;
          q.push(m.event);
          if (m.event.type === "done" || m.event.type === "error") this.jobs.delete(m.id);
          return;
        }
        case "reply": {
          const r = this.replies.get(m.id);
          if (!r) return;
          this.replies.delete(m.id);
          if (m.error) r.reject(EngineError.fromWire(m.error));
          else r.resolve(m.value);
          return;
        }
        case "stats":
          this.stats = { queued: m.queued, active: m.active };
          return;
      }
    };
    this.worker.onerror = (ev) => {
      const err = new EngineError("internal", `engine worker crashed: ${ev.message}`);
      rejectReady(err);
      for (const [id, q] of this.jobs) {
        q.push({ type: "error", error: err.toWire() });
        this.jobs.delete(id);
      }
    };
    this.post({ op: "init", config });
  }

  get kind(): "native" | "llama" {
    return this.config.engine;
  }

  /** Resolves when the model is loaded; rejects with the load error. */
  ready(): Promise<ModelInfo> {
    return this.readyPromise;
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  generate(job: Job, signal: AbortSignal): AsyncIterable<JobEvent> {
    const id = this.nextId++;
    const q = new EventQueue();
    if (!this.info) {
      q.push({ type: "error", error: new EngineError("not_ready", "the model is still loading").toWire() });
      return q;
    }
    this.jobs.set(id, q);
    const onAbort = () => {
      if (!this.jobs.has(id)) return;
      this.jobs.delete(id);
      this.post({ op: "cancel", id });
      q.push({ type: "error", error: new EngineError("cancelled", "the client went away").toWire() });
    };
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener("abort", onAbort, { once: true });
      this.post({ op: "submit", id, job });
    }
    return q;
  }

  private call(m: ToWorker & { id: number }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.replies.set(m.id, { resolve, reject });
      this.post(m);
    });
  }

  async tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Promise<number[]> {
    return (await this.call({ op: "tokenize", id: this.nextId++, text, addSpecial, parseSpecial })) as number[];
  }

  async detokenize(tokens: number[]): Promise<string> {
    return (await this.call({ op: "detokenize", id: this.nextId++, tokens })) as string;
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((r) => this.worker.addEventListener("close", () => r(), { once: true }));
    this.post({ op: "shutdown" });
    await Promise.race([exited, Bun.sleep(5000)]);
    this.worker.terminate();
  }
}
