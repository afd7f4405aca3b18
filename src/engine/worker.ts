// The engine worker: a Bun Worker that owns the Engine and the Scheduler, so native calls (which block
// their thread) never stall the HTTP thread. It steps the scheduler while there is work, yielding between
// steps so submits and cancels arrive.
import { EngineError } from "./errors.ts";
import type { Engine } from "./engine.ts";
import { openEngine } from "./open.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { Scheduler } from "./scheduler.ts";

declare const self: Worker;

let engine: Engine | null = null;
let scheduler: Scheduler | null = null;
let running = false;
let lastStats = "";

function send(msg: FromWorker): void {
  self.postMessage(msg);
}

function wire(e: unknown) {
  return (e instanceof EngineError ? e : new EngineError("internal", e instanceof Error ? e.message : String(e))).toWire();
}

function sendStats(): void {
  if (!scheduler) return;
  const s = `${scheduler.queued}/${scheduler.active}`;
  if (s === lastStats) return;
  lastStats = s;
  send({ op: "stats", queued: scheduler.queued, active: scheduler.active });
}

function pump(): void {
  if (running || !scheduler) return;
  running = true;
  const tick = (): void => {
    if (!scheduler || scheduler.idle) {
      running = false;
      sendStats();
      return;
    }
    scheduler.step();
    sendStats();
    // setImmediate lets queued messages (cancel, submit) in between two decode steps.
    setImmediate(tick);
  };
  setImmediate(tick);
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  switch (msg.op) {
    case "init": {
      try {
        engine = openEngine(msg.config);
        scheduler = new Scheduler(
          engine,
          { nParallel: msg.config.nParallel, queueLimit: msg.config.queueLimit, queueTimeoutMs: msg.config.queueTimeoutMs },
          (id, event) => send({ op: "event", id, event }),
        );
        send({ op: "ready", info: engine.info });
      } catch (e) {
        send({ op: "init-error", error: wire(e) });
      }
      return;
    }
    case "submit": {
      if (!scheduler) {
        send({ op: "event", id: msg.id, event: { type: "error", error: new EngineError("not_ready", "the model is not loaded").toWire() } });
        return;
      }
      try {
        scheduler.submit(msg.id, msg.job);
        pump();
      } catch (e) {
        send({ op: "event", id: msg.id, event: { type: "error", error: wire(e) } });
      }
      sendStats();
      return;
    }
    case "cancel":
      scheduler?.cancel(msg.id);
      sendStats();
      return;
    case "tokenize":
    case "detokenize": {
      try {
        if (!engine) throw new EngineError("not_ready", "the model is not loaded");
        let value: unknown;
        if (msg.op === "tokenize") {
          value = Array.from(engine.tokenize(msg.text, { addSpecial: msg.addSpecial, parseSpecial: msg.parseSpecial }));
        } else {
          const parts: Uint8Array[] = [];
          for (const t of msg.tokens) {
            if (!Number.isInteger(t) || t < 0 || t >= engine.info.nVocab) {
              throw new EngineError("invalid_request", `token id ${t} is outside the vocabulary (0..${engine.info.nVocab - 1})`, "tokens");
            }
            parts.push(engine.tokenBytes(t, true));
          }
          value = new TextDecoder().decode(Buffer.concat(parts));
        }
        send({ op: "reply", id: msg.id, value });
      } catch (e) {
        send({ op: "reply", id: msg.id, value: null, error: wire(e) });
      }
      return;
    }
    case "shutdown":
      scheduler?.abortAll(new EngineError("shutting_down", "the server is shutting down"));
      engine?.close();
      engine = null;
      scheduler = null;
      process.exit(0);
  }
};
