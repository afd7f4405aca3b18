// A bounds-checked little-endian cursor over untrusted bytes: every read first proves it fits.
// Failures are GgufErrors naming what was being read and at which byte, never a RangeError.

import { GgufError } from "./errors.ts";

// TextDecoder with fatal: invalid UTF-8 throws instead of silently becoming U+FFFD.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class Cursor {
  pos = 0;
  readonly size: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly file: string | undefined,
  ) {
    this.size = bytes.length;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.size - this.pos;
  }

  fail(detail: string, at: number = this.pos): never {
    throw new GgufError(detail, at, this.file);
  }

  /** Proves `n` more bytes exist before anything reads them. */
  need(n: number, what: string, prefix = ""): void {
    if (n > this.size - this.pos) {
      this.fail(`${prefix}${what} needs ${n} bytes but only ${this.size - this.pos} remain (file size ${this.size})`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** One fixed-size scalar of a numeric GGUF type, read at the cursor (bounds already proven). */
  scalar(size: 1 | 2 | 4 | 8, kind: "u" | "i" | "f", what: string): number | bigint {
    this.need(size, what);
    const p = this.pos;
    const v = this.view;
    this.pos += size;
    switch (size) {
      case 1: return kind === "i" ? v.getInt8(p) : v.getUint8(p);
      case 2: return kind === "i" ? v.getInt16(p, true) : v.getUint16(p, true);
      case 4: return kind === "f" ? v.getFloat32(p, true) : kind === "i" ? v.getInt32(p, true) : v.getUint32(p, true);
      case 8: return kind === "f" ? v.getFloat64(p, true) : kind === "i" ? v.getBigInt64(p, true) : v.getBigUint64(p, true);
    }
  }

  /**
   * A u64 count of items that each take at least `minItemBytes`: rejected unless that many items
   * could fit in the rest of the file, so a forged 2^60 never reaches an allocation.
   */
  count(what: string, minItemBytes: number): number {
    const at = this.pos;
    const n = this.u64AsNumber(what);
    const fit = Math.floor(this.remaining / Math.max(1, minItemBytes));
    if (n > fit) {
      this.fail(`${what} is ${this.view.getBigUint64(at, true)}, but the ${this.remaining} bytes left can hold at most ${fit}`, at);
    }
    return n;
  }

  /**
   * A u64 as a Number without allocating a BigInt (hot: one per string). Values of 2^53 and above
   * come back as Infinity, which every caller rejects as "too large for the file".
   */
  private u64AsNumber(what: string, prefix = ""): number {
    this.need(8, what, prefix);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
  }

  /** A GGUF string: u64 byte length, then UTF-8 bytes (no terminator). */
  string(what: string): string {
    const at = this.pos;
    const n = this.u64AsNumber(what, "length of "); // no template here: this runs per string
    if (n > this.remaining) {
      const len = this.view.getBigUint64(at, true);
      this.fail(`${what} has length ${len}, past the end of the file (${this.remaining} bytes left)`, at);
    }
    const start = this.pos;
    this.pos += n;
    return decodeUtf8(this.bytes, start, n, () => this.fail(`${what} is not valid UTF-8`, start));
  }

  /** Copies `n` bytes into a fresh, aligned buffer (file data is often misaligned for typed arrays). */
  copy(n: number, what: string): ArrayBuffer {
    this.need(n, what);
    const out = new Uint8Array(n);
    out.set(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out.buffer;
  }
}

/** Decodes UTF-8 strictly (TextDecoder measured faster here than a hand-written ASCII fast path). */
export function decodeUtf8(bytes: Uint8Array, start: number, n: number, onInvalid: () => never): string {
  try {
    return utf8.decode(bytes.subarray(start, start + n));
  } catch {
    return onInvalid();
  }
}
