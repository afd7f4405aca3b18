// Where tests find the llama.cpp source tree (its gguf-py reader, vocab GGUFs and test vectors).
// setup places it at extern/llama.cpp; a missing tree is a failed test with a fix, never a skip.

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");

export function llamaCppDir(): string {
  const dir = join(REPO_ROOT, "extern", "llama.cpp");
  if (!existsSync(join(dir, "gguf-py")) || !existsSync(join(dir, "models"))) {
    throw new Error(`llama.cpp source tree not found at ${dir}: run \`npm run setup\` (it extracts it there)`);
  }
  return dir;
}

/** Path of one of llama.cpp's vocab-only GGUFs, e.g. `llama-bpe` → models/ggml-vocab-llama-bpe.gguf. */
export function llamaVocabPath(name: string): string {
  return join(llamaCppDir(), "models", `ggml-vocab-${name}.gguf`);
}
