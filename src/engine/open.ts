// Opens the engine a launch asked for. The only place that knows every engine implementation.
import type { Engine } from "./engine.ts";
import { LlamaEngine } from "./llama/llama-engine.ts";
import { NativeEngine } from "./native/native-engine.ts";
import type { WorkerConfig } from "./protocol.ts";

export function openEngine(c: WorkerConfig): Engine {
  const o = { path: c.model, nCtx: c.nCtx, nBatch: c.nBatch, nParallel: c.nParallel, threads: c.threads };
  switch (c.engine) {
    case "llama":
      return new LlamaEngine(o);
    case "native":
      // The output head (TERNARY_HEAD=auto|f16|f32|q8) and the kernel family (TERNARY_KERNELS) come from the environment.
      return new NativeEngine(o);
  }
}
