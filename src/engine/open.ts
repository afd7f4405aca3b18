// Opens the engine a launch asked for. The only place that knows every engine implementation.
import type { Engine } from "./engine.ts";
import { EngineError } from "./errors.ts";
import { LlamaEngine } from "./llama/llama-engine.ts";
import type { WorkerConfig } from "./protocol.ts";

export function openEngine(c: WorkerConfig): Engine {
  const o = { path: c.model, nCtx: c.nCtx, nBatch: c.nBatch, nParallel: c.nParallel, threads: c.threads };
  switch (c.engine) {
    case "llama":
      return new LlamaEngine(o);
    case "native":
      throw new EngineError("not_ready", "the native engine is not built yet: use --engine llama");
  }
}
