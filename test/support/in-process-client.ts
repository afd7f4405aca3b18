// An EngineClient that runs the real Scheduler on an Engine in this thread: route tests exercise the
// whole HTTP path (validation, templates, SSE, errors) without a worker, a model or a port.
import type { Engine } from "../../src/engine/engine.ts";
import type { EngineClient } from "../../src/engine/engine-host.ts";
import { EngineError } from "../../src/engine/errors.ts";
import type { Job, JobEvent } from "../../src/engine/protocol.ts";
import { Scheduler } from "../../src/engine/scheduler.ts";

export class InProcessClient implements EngineClient {
  readonly kind = "native" as const;
  private readonly scheduler: Scheduler;
  private readonly listeners = new Map<number, (e: JobEvent) => void>();
  private nextId = 1;
  private pumping = false;

  constructor(readonly engine: Engine, opts = { nParallel: 4, queueLimit: 16, queueTimeoutMs: 60_000 }) {
    this.scheduler = new Scheduler(engine, opts, (id, e) => this.listeners.get(id)?.(e));
  }
  get info() {
    return this.engine.info;
  }
  get stats() {
    return { queued: this.scheduler.queued, active: this.scheduler.active };
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const tick = () => {
      if (this.scheduler.idle) {
        this.pumping = false;
        return;
      }
      this.scheduler.step();
      setImmediate(tick);
    };
    setImmediate(tick);
  }

  generate(job: Job, signal: AbortSignal): AsyncIterable<JobEvent> {
    const id = this.nextId++;
    const items: JobEvent[] = [];
    let wake: (() => void) | null = null;
    const push = (e: JobEvent) => {
      items.push(e);
      wake?.();
    };
    this.listeners.set(id, push);
    signal.addEventListener("abort", () => {
      this.scheduler.cancel(id);
      push({ type: "error", error: new EngineError("cancelled", "the client went away").toWire() });
    });
    try {
      this.scheduler.submit(id, job);
      this.pump();
    } catch (e) {
      push({ type: "error", error: (e as EngineError).toWire() });
    }
    const listeners = this.listeners;
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (items.length) {
            const e = items.shift()!;
            yield e;
            if (e.type === "done" || e.type === "error") {
              listeners.delete(id);
              return;
            }
          }
          await new Promise<void>((r) => (wake = r));
        }
      },
    };
  }
  async tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Promise<number[]> {
    return Array.from(this.engine.tokenize(text, { addSpecial, parseSpecial }));
  }
  async detokenize(tokens: number[]): Promise<string> {
    return new TextDecoder().decode(Buffer.concat(tokens.map((t) => this.engine.tokenBytes(t, true))));
  }
  async close(): Promise<void> {}
}
