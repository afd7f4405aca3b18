// Block-diffusion settings as the server holds them (launch flags) and their resolution against the
// loaded model (mask token, attention mode) and a request's `dlm` field.
import type { ModelInfo } from "../engine/engine.ts";
import type { DlmOptions } from "../engine/protocol.ts";

export interface DlmConfig {
  /** Every request uses block diffusion unless it says `"dlm": false`. */
  enabled: boolean;
  blockSize: number;
  subBlockSize: number;
  threshold: number;
  confidence: DlmOptions["confidence"];
  mode: DlmOptions["mode"];
  maxStepsPerBlock: number;
  /** null: from the model's metadata, else `block`. */
  attention: DlmOptions["attention"] | null;
  /** With block attention, decode the rest of the block as lookahead masks (see DlmOptions). Off by
   * default: on the default model it costs 2.7x the DLM time and loses 0.5 points of exact match (README). */
  lookahead: boolean;
  /** null: from the model (metadata key, or a token named |<MASK>| / <|mask|>). */
  maskToken: number | null;
}

export const DLM_DEFAULTS: DlmConfig = {
  enabled: false,
  blockSize: 32,
  subBlockSize: 8,
  threshold: 0.9,
  confidence: "prob",
  mode: "iterative",
  maxStepsPerBlock: 16,
  attention: null,
  lookahead: false,
  maskToken: null,
};

/** The request-level override, in the request's own (snake_case) field names. */
export interface DlmOverride {
  block_size?: number;
  sub_block_size?: number;
  threshold?: number;
  confidence?: DlmOptions["confidence"];
  mode?: DlmOptions["mode"];
  max_steps_per_block?: number;
  attention?: DlmOptions["attention"];
  lookahead?: boolean;
}

export class DlmConfigError extends Error {}

/** Full options for one generation, or a DlmConfigError saying what is missing. */
export function resolveDlm(c: DlmConfig, info: ModelInfo, over: DlmOverride = {}): DlmOptions {
  const maskToken = c.maskToken ?? info.maskToken;
  if (maskToken === null) {
    throw new DlmConfigError("block diffusion needs a mask token: this model declares none (pass --mask-token-id)");
  }
  if (maskToken < 0 || maskToken >= info.nVocab) throw new DlmConfigError(`mask token ${maskToken} is outside the vocabulary (0..${info.nVocab - 1})`);
  const blockSize = over.block_size ?? c.blockSize;
  const subBlockSize = Math.min(over.sub_block_size ?? c.subBlockSize, blockSize);
  return {
    maskToken,
    blockSize,
    subBlockSize,
    threshold: over.threshold ?? c.threshold,
    confidence: over.confidence ?? c.confidence,
    mode: over.mode ?? c.mode,
    maxStepsPerBlock: over.max_steps_per_block ?? c.maxStepsPerBlock,
    attention: over.attention ?? c.attention ?? info.dlmAttention ?? "block",
    lookahead: over.lookahead ?? c.lookahead,
  };
}
