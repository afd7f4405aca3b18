// The native engine's tokenizer: text ⇄ token ids for byte-level BPE and SentencePiece vocabularies,
// built from GGUF metadata and matching llama.cpp's tokenizer id for id and byte for byte.

import { BpeModel } from "./bpe.ts";
import { cleanSpaces, tokenPiece } from "./detokenize.ts";
import type { TokenizerMetadata } from "./metadata.ts";
import { partition } from "./partition.ts";
import { IntList } from "./int-list.ts";
import { preTokenizerFor, splitWords, type PreTokenizerSpec } from "./pre-tokenizer.ts";
import { SpmModel } from "./spm.ts";
import { codepointFlags, toCodepoints, utf8Decoder } from "./unicode.ts";
import { Attr, buildVocab, type Vocab } from "./vocab.ts";

export { tokenizerMetadataFromGguf, type TokenizerMetadata } from "./metadata.ts";

export interface EncodeOptions {
  /** Add BOS/EOS as the vocabulary asks (`add_bos_token`, `add_eos_token`). Default false. */
  addSpecial?: boolean;
  /** Recognise control-token text such as `<|eot_id|>` in the input. Default false
   *  (user-defined tokens are always recognised, as in llama.cpp). */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Render control and unknown tokens as their text (otherwise they produce nothing). */
  special?: boolean;
  /** Drop a leading BOS / trailing EOS that the vocabulary would have added. */
  removeSpecial?: boolean;
  /** Apply llama.cpp's space clean-up (" ," → ","). Off by default so decode(encode(x)) === x;
   *  llama.cpp applies it when `Tokenizer.cleanSpaces` is true. */
  cleanSpaces?: boolean;
}

export interface Tokenizer {
  readonly kind: "bpe" | "spm";
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly eot: number | null;
  readonly eom: number | null;
  readonly unk: number | null;
  readonly pad: number | null;
  /** The mask token (`tokenizer.ggml.mask_token_id`), used by block-diffusion models. */
  readonly mask: number | null;
  /** Every token that ends generation (EOS, EOT, EOM, <|im_end|>, ...). */
  readonly eog: readonly number[];
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  /** Whether llama.cpp's detokenizer cleans up spaces for this vocabulary. */
  readonly cleanSpaces: boolean;

  encode(text: string, opts?: EncodeOptions): Int32Array;
  /** The exact bytes of a token; control/unknown tokens are empty unless `special`. Shared: don't mutate. */
  tokenBytes(id: number, special: boolean): Uint8Array;
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  /** The token's text as stored in the vocabulary (byte-level BPE spelling, ▁ for SPM spaces). */
  tokenText(id: number): string;
  isControl(id: number): boolean;
  isEog(id: number): boolean;
  /** The id of the token whose vocabulary text is exactly `text`, or null. */
  findToken(text: string): number | null;
}

const EMPTY = new Uint8Array(0);

class VocabTokenizer implements Tokenizer {
  readonly kind: "bpe" | "spm";
  readonly vocabSize: number;
  readonly eog: readonly number[];
  private readonly pieces: (Uint8Array | undefined)[];
  private readonly bpe: BpeModel | null = null;
  private readonly spm: SpmModel | null = null;
  private readonly pre: PreTokenizerSpec | null = null;

  constructor(private readonly vocab: Vocab) {
    this.kind = vocab.kind;
    this.vocabSize = vocab.texts.length;
    this.eog = [...vocab.eog].sort((a, b) => a - b);
    this.pieces = new Array(this.vocabSize);
    if (vocab.kind === "bpe") {
      this.pre = preTokenizerFor(vocab.pre);
      this.bpe = new BpeModel(vocab.texts, vocab.tokenToId, vocab.merges, {
        byteEncode: this.pre.byteEncode,
        ignoreMerges: vocab.ignoreMerges,
        newlineWords: vocab.pre === "gemma4",
      });
      codepointFlags(); // built now (~50 ms) rather than during the first request
    } else {
      this.spm = new SpmModel(vocab.tokenToId, vocab.scores, spmByteIds(vocab), vocab.unk);
    }
  }

  get bos() { return this.vocab.bos; }
  get eos() { return this.vocab.eos; }
  get eot() { return this.vocab.eot; }
  get eom() { return this.vocab.eom; }
  get unk() { return this.vocab.unk; }
  get pad() { return this.vocab.pad; }
  get mask() { return this.vocab.mask; }
  get addBos() { return this.vocab.addBos; }
  get addEos() { return this.vocab.addEos; }
  get addSpacePrefix() { return this.vocab.addSpacePrefix; }
  get cleanSpaces() { return this.vocab.cleanSpaces; }

  encode(input: string, opts: EncodeOptions = {}): Int32Array {
    const v = this.vocab;
    // llama.cpp sees UTF-8; a lone surrogate has no UTF-8 form, so it becomes U+FFFD as TextEncoder would.
    const text = input.isWellFormed() ? input : input.toWellFormed();
    const out = new IntList(Math.max(16, text.length >> 1));
    const addSpecial = opts.addSpecial ?? false;
    if (addSpecial && v.addBos) out.push(required(v.bos, "BOS"));
    // SPM puts a space before text that opens the input or follows a special token.
    let afterSpecial = true;
    for (const frag of partition(v, text, opts.parseSpecial ?? false)) {
      if (frag.token !== undefined) {
        out.push(frag.token);
        afterSpecial = true;
        continue;
      }
      let piece = text.slice(frag.start, frag.end);
      if (this.spm !== null) {
        if (v.addSpacePrefix && afterSpecial) piece = " " + piece;
        this.spm.encode(piece.replaceAll(" ", "\u2581"), out);
      } else {
        if (v.escapeWhitespace) piece = piece.replaceAll(" ", "\u2581");
        this.encodeBpe(piece, out);
      }
      afterSpecial = false;
    }
    if (addSpecial && v.addEos) out.push(required(v.eos, "EOS"));
    return out.data.slice(0, out.length);
  }

  private encodeBpe(text: string, out: IntList): void {
    const { cps, offsets } = toCodepoints(text);
    const ends = splitWords(this.pre!, cps, offsets);
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends.data[i]!;
      this.bpe!.encodeWord(text.slice(offsets[start]!, offsets[end]!), cps, start, end, out);
      start = end;
    }
  }

  tokenBytes(id: number, special: boolean): Uint8Array {
    this.check(id);
    if (!special && this.vocab.attrs[id]! & (Attr.CONTROL | Attr.UNKNOWN)) return EMPTY;
    let piece = this.pieces[id];
    if (piece === undefined) this.pieces[id] = piece = tokenPiece(this.vocab, id);
    return piece;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const v = this.vocab;
    const special = opts.special ?? false;
    let first = 0;
    let last = ids.length;
    // SPM encoding added a space before the text; the first token gives it back.
    let removeSpace = v.addSpacePrefix;
    if (opts.removeSpecial && v.addBos && last > 0 && ids[0] === v.bos) {
      removeSpace = false;
      first++;
    }
    if (opts.removeSpecial && v.addEos && last > first && ids[last - 1] === v.eos) last--;
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let i = first; i < last; i++) {
      let piece = this.tokenBytes(ids[i]!, special);
      if (removeSpace && piece.length > 0 && piece[0] === 0x20) piece = piece.subarray(1);
      removeSpace = false;
      parts.push(piece);
      size += piece.length;
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    const length = opts.cleanSpaces ? cleanSpaces(bytes, size) : size;
    return utf8Decoder.decode(bytes.subarray(0, length));
  }

  tokenText(id: number): string {
    this.check(id);
    return this.vocab.texts[id]!;
  }

  isControl(id: number): boolean {
    this.check(id);
    return (this.vocab.attrs[id]! & Attr.CONTROL) !== 0;
  }

  isEog(id: number): boolean {
    return this.vocab.eog.has(id);
  }

  findToken(text: string): number | null {
    return this.vocab.tokenToId.get(text) ?? null;
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    }
  }
}

function required(id: number | null, what: string): number {
  if (id === null) throw new Error(`the vocabulary asks for ${what} but has no ${what} token`);
  return id;
}

/** SPM byte fallback: each byte's `<0xNN>` token, else a token whose text is that one character. */
function spmByteIds(v: Vocab): Int32Array {
  const ids = new Int32Array(256).fill(-1);
  for (let b = 0; b < 256; b++) {
    const hex = b.toString(16).toUpperCase().padStart(2, "0");
    const id = v.tokenToId.get(`<0x${hex}>`) ?? (b < 0x80 ? v.tokenToId.get(String.fromCharCode(b)) : undefined);
    if (id !== undefined) ids[b] = id;
  }
  return ids;
}

/** Builds a tokenizer from vocabulary metadata (see tokenizerMetadataFromGguf). */
export function createTokenizer(meta: TokenizerMetadata): Tokenizer {
  return new VocabTokenizer(buildVocab(meta));
}
