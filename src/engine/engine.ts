// The Engine interface: the low-level contract both engines (native, llama) implement.
// Generation (AR sampler, block diffusion) and the scheduler are written once on top of it.

/** How the tokens of one `decode` call attend to each other. */
export type AttentionMode =
  /** Each token sees its sequence's cache and the earlier tokens of the batch (plain decoding). */
  | "causal"
  /** Each token also sees every other token of its own sequence in this batch (block diffusion). */
  | "block";

/**
 * One decode step: parallel arrays, one entry per token. A batch may mix several sequences.
 * Positions of one sequence must continue that sequence's cache (no gaps).
 */
export interface Batch {
  /** Number of valid entries in the arrays below (the arrays may be larger, preallocated). */
  n: number;
  tokens: Int32Array; // (n)
  positions: Int32Array; // (n)
  seqIds: Int32Array; // (n)
  /** 1 where the caller wants this token's logits; outputs come back in batch order. */
  wantLogits: Uint8Array; // (n)
}

export interface ModelInfo {
  /** GGUF `general.architecture`, e.g. `bitnet`, `bitnet-b1.58`. */
  arch: string;
  name: string;
  /** Weight format as a short name: `i2_s`, `tq1_0`, `tq2_0`, `f16`, `f32`, or `mixed`. */
  format: string;
  nVocab: number;
  /** Context length this engine instance was created with (tokens per sequence). */
  nCtx: number;
  nCtxTrain: number;
  nEmbd: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Largest number of tokens one `decode` may carry. */
  nBatch: number;
  /** Number of sequences that can live in the cache at once (ids 0 .. nSeqMax-1). */
  nSeqMax: number;
  bos: number | null;
  eos: number | null;
  /** Text of BOS / EOS as chat templates expect them (`bos_token`, `eos_token`), "" when absent. */
  bosText: string;
  eosText: string;
  /** Whether tokenizing with `addSpecial` prepends BOS. */
  addBos: boolean;
  /** Every end-of-generation token (EOS, EOT, ...). */
  eog: number[];
  /** The mask token for block diffusion, when the model declares one. */
  maskToken: number | null;
  /** Attention inside a diffusion block as declared by the model, when it says. */
  dlmAttention: AttentionMode | null;
  /** Jinja chat template from the GGUF (`tokenizer.chat_template`), when present. */
  chatTemplate: string | null;
  fileBytes: number;
}

export interface TokenizeOptions {
  /** Prepend BOS (and anything else the vocabulary adds) when the model asks for it. */
  addSpecial: boolean;
  /** Recognise special-token text such as `<|eot_id|>` in the input. */
  parseSpecial: boolean;
}

export interface Engine {
  readonly kind: "native" | "llama";
  readonly info: ModelInfo;

  tokenize(text: string, opts: TokenizeOptions): Int32Array;
  /** The exact bytes one token stands for (special tokens render as their text when `special`). */
  tokenBytes(token: number, special: boolean): Uint8Array;
  isEog(token: number): boolean;

  /**
   * Runs the model over a batch and returns the logits of the tokens whose `wantLogits` is set,
   * row after row (nOutputs × nVocab). The view is valid until the next `decode` or `close`.
   */
  decode(batch: Batch, attention: AttentionMode): Float32Array;

  /** Removes positions [p0, p1) of a sequence from the cache (p1 < 0: to the end). */
  kvRemove(seq: number, p0: number, p1: number): void;
  /** Makes `dst` share `src`'s cache entries for positions [p0, p1) (p1 < 0: to the end). */
  kvCopy(src: number, dst: number, p0: number, p1: number): void;
  /** Clears one sequence, or the whole cache when `seq` is negative. */
  kvClear(seq: number): void;
  /** The next position a sequence expects (its cached length), 0 when empty. */
  kvNextPos(seq: number): number;

  setThreads(n: number): void;
  close(): void;
}
