// Loads each model file of a list with LlamaEngine (or NativeEngine) and serves a few greedy tokens, printing
// one JSON line per file; run as a child process, because llama.cpp aborts the whole process on some bad files.
//
// usage: bun test/support/load-models.ts [--engine llama|native] [LIST_FILE]   (paths one per line; stdin without LIST_FILE)
// Output, one line per path, written synchronously before the next load starts, so that when the
// process dies the first path without a line is the one that killed it:
//   {"path": "...", "ok": true, "tokens": [...], "text": "..."}
//   {"path": "...", "ok": false, "error": "...", "errorType": "EngineError", "kind": "invalid_request"}
// errorType other than EngineError / NativeError means a bug in our code (the caller decides).

import { readFileSync, writeSync } from "node:fs";
import { EngineError } from "../../src/engine/errors.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { LlamaEngine } from "../../src/engine/llama/llama-engine.ts";
import { NativeEngine } from "../../src/engine/native/native-engine.ts";
import { NativeError } from "../../src/engine/native-error.ts";
import { greedyTokens } from "./greedy.ts";

export interface LoadResult {
  path: string;
  ok: boolean;
  /** Prompt tokens ("hello world" with BOS) followed by the greedy continuation. */
  tokens?: number[];
  text?: string;
  error?: string;
  errorType?: string;
  /** EngineError's kind: `invalid_request` is our validation, `internal` llama.cpp's refusal. */
  kind?: string;
}

const N_GREEDY = 4;

function serve(path: string, engine: string): LoadResult {
  const o = { path, nCtx: 256, nBatch: 64, nParallel: 1, threads: 1 };
  const e: Engine = engine === "native" ? new NativeEngine(o) : new LlamaEngine(o);
  try {
    const prompt = [...e.tokenize("hello world", { addSpecial: true, parseSpecial: false })];
    const out = greedyTokens(e, prompt, N_GREEDY);
    const tokens = [...prompt, ...out];
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= e.info.nVocab) throw new EngineError("internal", `token ${t} is outside the vocabulary (${e.info.nVocab})`);
    }
    // Every token's bytes, special ones too: detokenising is part of serving.
    const bytes = tokens.flatMap((t) => [...e.tokenBytes(t, true)]);
    return { path, ok: true, tokens, text: new TextDecoder().decode(Uint8Array.from(bytes)) };
  } finally {
    e.close();
  }
}

function emit(r: LoadResult): void {
  // writeSync on fd 1: nothing is left in a buffer when the next load takes the process down.
  writeSync(1, `${JSON.stringify(r)}\n`);
}

function main(argv: string[]): void {
  let engine = "llama";
  if (argv[0] === "--engine") {
    engine = argv[1];
    argv = argv.slice(2);
  }
  const list = argv[0] === undefined ? readFileSync(0, "utf8") : readFileSync(argv[0], "utf8");
  for (const path of list.split("\n").map((l) => l.trim()).filter((l) => l.length > 0)) {
    try {
      emit(serve(path, engine));
    } catch (e) {
      const err = e as Error;
      emit({
        path,
        ok: false,
        error: err?.message ?? String(e),
        errorType: e instanceof EngineError ? "EngineError" : e instanceof NativeError ? "NativeError" : (err?.name ?? typeof e),
        kind: e instanceof EngineError ? e.kind : undefined,
      });
    }
  }
}

if (import.meta.main) main(process.argv.slice(2));
