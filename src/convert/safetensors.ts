// Safetensors files: a reader that checks the JSON header against the file (dtypes, shapes, offsets,
// overlaps) and maps each tensor on demand, and a writer that streams a header then data in order.
//
// Layout: u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the data; offsets are relative to byte 8 + N.
// Each tensor is mapped separately (Bun.mmap with an offset and size) and only when asked, so the
// pages of a tensor the caller has dropped can be unmapped: a checkpoint larger than RAM converts.

import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { ConvertError } from "./errors.ts";

/** Bytes per element of every dtype the format defines (BOOL is one byte). */
const DTYPE_SIZE = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
} as const;
export type StDtype = keyof typeof DTYPE_SIZE;

export function isStDtype(s: unknown): s is StDtype {
  return typeof s === "string" && Object.hasOwn(DTYPE_SIZE, s);
}

export function dtypeSize(d: StDtype): number {
  return DTYPE_SIZE[d];
}

/** The reference implementation refuses headers over 100 MB; so do we (a lying length is caught first). */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

export interface StTensor {
  name: string;
  dtype: StDtype;
  /** Row-major, outermost first (PyTorch order): a Linear weight is [out, in]. */
  shape: number[];
  nElements: number;
  byteLength: number;
  /** Absolute byte offset in the file. */
  offset: number;
  file: string;
  /** The tensor's bytes, a zero-copy private mapping of the file; dropped views are unmapped by GC. */
  data(): Uint8Array;
  /** Bytes [start, end) of the tensor (for streaming a large tensor in slices). */
  range(start: number, end: number): Uint8Array;
}

export class SafetensorsFile {
  private readonly byName = new Map<string, StTensor>();

  constructor(
    readonly path: string,
    readonly metadata: Record<string, string>,
    readonly tensors: StTensor[],
  ) {
    for (const t of tensors) this.byName.set(t.name, t);
  }

  tensor(name: string): StTensor | undefined {
    return this.byName.get(name);
  }
}

function bad(path: string, what: string): never {
  throw new ConvertError(`${basename(path)}: ${what}`);
}

/** Reads and checks the header of a .safetensors file; tensor bytes are mapped later, on demand. */
export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new ConvertError(`cannot open ${path}: ${(e as Error).message}`);
  }
  let headerText: string;
  let size: number;
  let dataStart: number;
  try {
    size = fstatSync(fd).size;
    if (size < 8) bad(path, `file is ${size} bytes, too small for a safetensors header`);
    const lenBytes = new Uint8Array(8);
    readSync(fd, lenBytes, 0, 8, 0);
    const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (n > BigInt(size - 8)) bad(path, `header length ${n} runs past the end of the file (size ${size})`);
    if (n > BigInt(MAX_HEADER_BYTES)) bad(path, `header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`);
    const headerBytes = new Uint8Array(Number(n));
    let got = 0;
    while (got < headerBytes.length) {
      const r = readSync(fd, headerBytes, got, headerBytes.length - got, 8 + got);
      if (r === 0) bad(path, "file ended inside the header");
      got += r;
    }
    try {
      headerText = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
    } catch {
      bad(path, "header is not valid UTF-8");
    }
    dataStart = 8 + headerBytes.length;
  } finally {
    closeSync(fd);
  }
  return parseHeader(path, headerText, size, dataStart);
}

function parseHeader(path: string, text: string, size: number, dataStart: number): SafetensorsFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    bad(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) bad(path, "header is not a JSON object");
  const dataLength = size - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: StTensor[] = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) bad(path, "__metadata__ is not an object");
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== "string") bad(path, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof entry !== "object" || entry === null) bad(path, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isStDtype(dtype)) bad(path, `${where}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      bad(path, `${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    let nElements = 1;
    for (const d of shape as number[]) {
      nElements *= d;
      if (!Number.isSafeInteger(nElements)) bad(path, `${where}: shape [${shape.join(", ")}] is too large`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => !Number.isSafeInteger(o) || o < 0)) {
      bad(path, `${where}: data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end) bad(path, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) bad(path, `${where}: data [${begin}, ${end}) runs past the end of the data (${dataLength} bytes)`);
    const byteLength = nElements * DTYPE_SIZE[dtype];
    if (end - begin !== byteLength) {
      bad(path, `${where}: ${dtype} [${(shape as number[]).join(", ")}] needs ${byteLength} bytes, data_offsets give ${end - begin}`);
    }
    tensors.push(makeTensor(path, name, dtype, shape as number[], nElements, dataStart + begin, byteLength));
  }
  // No two tensors may share bytes: a forged header could otherwise alias weights.
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.byteLength > 0 && prev.offset + prev.byteLength > cur.offset) {
      bad(path, `tensor "${cur.name}" data overlaps tensor "${prev.name}"`);
    }
  }
  return new SafetensorsFile(path, metadata, tensors);
}

function makeTensor(file: string, name: string, dtype: StDtype, shape: number[], nElements: number, offset: number, byteLength: number): StTensor {
  const map = (start: number, end: number): Uint8Array => {
    if (start < 0 || end > byteLength || start > end) throw new ConvertError(`${basename(file)}: range [${start}, ${end}) outside tensor "${name}" (${byteLength} bytes)`);
    if (end === start) return new Uint8Array(0);
    return Bun.mmap(file, { shared: false, offset: offset + start, size: end - start });
  };
  return { name, dtype, shape, nElements, byteLength, offset, file, data: () => map(0, byteLength), range: map };
}

// ─── Writer ──────────────────────────────────────────────────────────────────────────────────────

export interface StTensorDecl {
  name: string;
  dtype: StDtype;
  shape: number[];
}

/**
 * Writes a safetensors file: the header (tensors in declaration order, 8-byte aligned as the
 * reference pads it) at once, then the data of each tensor in order, in chunks of any size. The file
 * appears under its name only when complete.
 */
export class SafetensorsWriter {
  private readonly fd: number;
  private readonly tmp: string;
  private readonly sizes: number[];
  private index = 0;
  private written = 0;
  private closed = false;

  constructor(readonly path: string, readonly decls: StTensorDecl[], metadata: Record<string, string> = {}) {
    const header: Record<string, unknown> = {};
    if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
    let off = 0;
    this.sizes = decls.map((d) => d.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[d.dtype]);
    decls.forEach((d, i) => {
      header[d.name] = { dtype: d.dtype, shape: d.shape, data_offsets: [off, off + this.sizes[i]] };
      off += this.sizes[i];
    });
    let text = JSON.stringify(header);
    const pad = (8 - ((new TextEncoder().encode(text).length) % 8)) % 8;
    text += " ".repeat(pad);
    const bytes = new TextEncoder().encode(text);
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(bytes.length), true);
    this.tmp = `${path}.partial-${process.pid}`;
    this.fd = openSync(this.tmp, "w");
    this.writeAll(len);
    this.writeAll(bytes);
    while (this.index < this.sizes.length && this.sizes[this.index] === 0) this.index++;
  }

  /** Appends bytes to the current tensor. */
  write(chunk: Uint8Array): void {
    const size = this.sizes[this.index];
    if (this.closed || size === undefined) throw new ConvertError(`${this.path}: write past the last tensor`);
    if (this.written + chunk.length > size) throw new ConvertError(`${this.path}: tensor "${this.decls[this.index].name}" takes ${size} bytes, more given`);
    this.writeAll(chunk);
    this.written += chunk.length;
    while (this.index < this.sizes.length && this.written === this.sizes[this.index]) {
      this.index++;
      this.written = 0;
    }
  }

  close(): void {
    if (this.closed) return;
    if (this.index < this.sizes.length) {
      this.abort();
      throw new ConvertError(`${this.path}: closed before tensor "${this.decls[this.index].name}" was written`);
    }
    closeSync(this.fd);
    this.closed = true;
    renameSync(this.tmp, this.path);
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    rmSync(this.tmp, { force: true });
  }

  private writeAll(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
  }
}

/** Writes a whole small file at once (tests, fixtures). */
export function writeSafetensors(path: string, tensors: (StTensorDecl & { data: Uint8Array })[], metadata: Record<string, string> = {}): void {
  const w = new SafetensorsWriter(path, tensors, metadata);
  try {
    for (const t of tensors) w.write(t.data);
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
}
