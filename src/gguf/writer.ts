// The GGUF v3 writer: typed metadata (every value type, nested arrays), tensor infos, and data
// aligned to `general.alignment`, written to memory or streamed to a file tensor by tensor.

import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { GgufError } from "./errors.ts";
import {
  GGML_MAX_NAME_BYTES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_ARRAY_DEPTH, GgufType, ggmlTypeInfo, ggufTypeName, isGgufType, tensorByteSize, typedArrayFor,
  type GgmlType, type GgufArray, type GgufValue,
} from "./types.ts";

interface PendingTensor {
  name: string;
  type: GgmlType;
  shape: number[];
  byteSize: number;
  data?: Uint8Array;
}

/** Where each tensor lands: offsets are absolute in the file. */
export interface TensorPlacement {
  name: string;
  offset: number;
  byteSize: number;
}

const utf8 = new TextEncoder();

export class GgufWriter {
  private readonly kv = new Map<string, GgufValue>();
  private readonly pending: PendingTensor[] = [];
  private readonly names = new Set<string>();

  /** `alignment` other than the default 32 is recorded as the `general.alignment` key. */
  constructor(opts: { alignment?: number } = {}) {
    if (opts.alignment !== undefined && opts.alignment !== GGUF_DEFAULT_ALIGNMENT) {
      this.set("general.alignment", { type: GgufType.UINT32, value: opts.alignment });
    }
  }

  /** Adds a metadata entry (in call order); values are checked against their type tag now. */
  set(key: string, value: GgufValue): this {
    if (key.length === 0) throw new GgufError("metadata key is empty");
    if (!key.isWellFormed()) throw new GgufError(`metadata key "${key}" is not valid Unicode`);
    if (this.kv.has(key)) throw new GgufError(`duplicate metadata key "${key}"`);
    checkValue(key, value, 0);
    if (key === "general.alignment") {
      const a = value.value as number;
      if (value.type !== GgufType.UINT32 || a === 0 || (a & (a - 1)) !== 0) {
        throw new GgufError(`general.alignment must be a u32 power of two`);
      }
    }
    this.kv.set(key, value);
    return this;
  }

  /** Copies entries (e.g. another file's metadata), keeping their types and order. */
  setAll(entries: Iterable<[string, GgufValue]>): this {
    for (const [k, v] of entries) this.set(k, v);
    return this;
  }

  has(key: string): boolean {
    return this.kv.has(key);
  }

  /**
   * Declares a tensor (ggml shape order, ne0 first). Give `data` now for in-memory writing, or
   * leave it out and stream the bytes later through `openStream` in declaration order.
   */
  addTensor(name: string, type: GgmlType, shape: readonly number[], data?: Uint8Array): this {
    if (name.length === 0) throw new GgufError("tensor name is empty");
    if (!name.isWellFormed()) throw new GgufError(`tensor name "${name}" is not valid Unicode`);
    if (utf8.encode(name).length > GGML_MAX_NAME_BYTES) {
      throw new GgufError(`tensor name "${name}" is longer than ${GGML_MAX_NAME_BYTES} bytes`);
    }
    if (this.names.has(name)) throw new GgufError(`duplicate tensor name "${name}"`);
    const byteSize = tensorByteSize(type, shape, name);
    if (data !== undefined && data.length !== byteSize) {
      throw new GgufError(`tensor "${name}" (${ggmlTypeInfo(type)!.name} [${shape.join(", ")}]) needs ${byteSize} bytes, got ${data.length}`);
    }
    this.names.add(name);
    this.pending.push({ name, type, shape: [...shape], byteSize, data });
    return this;
  }

  get alignment(): number {
    const a = this.kv.get("general.alignment");
    return a === undefined ? GGUF_DEFAULT_ALIGNMENT : (a.value as number);
  }

  /** The header (magic through tensor infos), padded to where tensor data starts. */
  header(): Uint8Array {
    const s = new ByteSink();
    s.u32(GGUF_MAGIC);
    s.u32(3);
    s.u64(this.pending.length);
    s.u64(this.kv.size);
    for (const [key, value] of this.kv) {
      s.string(key);
      s.u32(value.type);
      writeValue(s, value);
    }
    let rel = 0;
    for (const t of this.pending) {
      s.string(t.name);
      s.u32(t.shape.length);
      for (const d of t.shape) s.u64(d);
      s.u32(t.type);
      s.u64(rel);
      rel += alignUp(t.byteSize, this.alignment);
    }
    s.pad(alignUp(s.length, this.alignment) - s.length);
    return s.bytes();
  }

  /** Absolute placement of every tensor, given the header this writer produces. */
  layout(headerLength = this.header().length): TensorPlacement[] {
    let offset = headerLength;
    return this.pending.map((t) => {
      const p = { name: t.name, offset, byteSize: t.byteSize };
      offset += alignUp(t.byteSize, this.alignment);
      return p;
    });
  }

  /** The whole file in memory (for small files); every tensor must have been given its data. */
  toBytes(): Uint8Array {
    const header = this.header();
    const places = this.layout(header.length);
    const total = places.length === 0 ? header.length : places[places.length - 1].offset + alignUp(places[places.length - 1].byteSize, this.alignment);
    const out = new Uint8Array(total);
    out.set(header, 0);
    this.pending.forEach((t, i) => out.set(this.requireData(t), places[i].offset));
    return out;
  }

  /** Writes the file, tensor by tensor; every tensor must have been given its data. */
  writeFile(path: string): void {
    const stream = this.openStream(path);
    try {
      for (const t of this.pending) stream.writeTensor(t.name, this.requireData(t));
      stream.close();
    } catch (e) {
      stream.abort();
      throw e;
    }
  }

  /**
   * Writes the header now and returns a stream that takes the tensor data in declaration order,
   * in as many chunks as the caller likes: a model never has to be in memory at once.
   */
  openStream(path: string): GgufStream {
    const header = this.header();
    return new GgufStream(path, header, this.layout(header.length), this.alignment);
  }

  private requireData(t: PendingTensor): Uint8Array {
    if (t.data === undefined) throw new GgufError(`tensor "${t.name}" was declared without data`);
    return t.data;
  }
}

/** Appends tensor data in order to a temporary file, renamed into place only by a complete `close()`. */
export class GgufStream {
  private readonly fd: number;
  private readonly tmp: string;
  private index = 0;
  private written = 0; // bytes of the current tensor written so far
  private closed = false;

  constructor(
    readonly path: string,
    header: Uint8Array,
    readonly tensors: TensorPlacement[],
    private readonly alignment: number,
  ) {
    this.tmp = `${path}.partial-${process.pid}`;
    this.fd = openSync(this.tmp, "w");
    this.writeAll(header);
  }

  /** Name of the tensor whose bytes come next, or undefined when all are written. */
  get next(): string | undefined {
    return this.tensors[this.index]?.name;
  }

  /** Appends bytes to the current tensor; a chunk may not run past its end. */
  write(chunk: Uint8Array): void {
    if (this.closed) throw new GgufError(`stream to "${this.path}" is closed`);
    const t = this.tensors[this.index];
    if (t === undefined) throw new GgufError(`all tensors of "${this.path}" are already written`);
    if (this.written + chunk.length > t.byteSize) {
      throw new GgufError(`tensor "${t.name}" takes ${t.byteSize} bytes; ${this.written} written, ${chunk.length} more given`);
    }
    this.writeAll(chunk);
    this.written += chunk.length;
    if (this.written === t.byteSize) {
      this.writeAll(new Uint8Array(alignUp(t.byteSize, this.alignment) - t.byteSize));
      this.index++;
      this.written = 0;
    }
  }

  /** Writes one whole tensor, checking it is the one expected next. */
  writeTensor(name: string, data: Uint8Array): void {
    if (this.next !== name) throw new GgufError(`expected data for tensor "${this.next}", got "${name}"`);
    if (this.written !== 0) throw new GgufError(`tensor "${name}" is partly written already`);
    if (data.length !== this.tensors[this.index].byteSize) {
      throw new GgufError(`tensor "${name}" takes ${this.tensors[this.index].byteSize} bytes, got ${data.length}`);
    }
    this.write(data);
  }

  close(): void {
    if (this.closed) return;
    if (this.index < this.tensors.length) {
      const t = this.tensors[this.index];
      this.abort();
      throw new GgufError(`"${this.path}" closed before tensor "${t.name}" was complete (${this.written}/${t.byteSize} bytes)`);
    }
    closeSync(this.fd);
    this.closed = true;
    renameSync(this.tmp, this.path);
  }

  /** Drops the partial file. */
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

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

// ─── Value checking and serialisation ────────────────────────────────────────────────────────────

const INT_RANGE: Record<number, [number, number]> = {
  [GgufType.UINT8]: [0, 0xff], [GgufType.INT8]: [-0x80, 0x7f],
  [GgufType.UINT16]: [0, 0xffff], [GgufType.INT16]: [-0x8000, 0x7fff],
  [GgufType.UINT32]: [0, 0xffffffff], [GgufType.INT32]: [-0x80000000, 0x7fffffff],
};

function checkValue(key: string, value: GgufValue, depth: number): void {
  // Values may come from untyped callers (JSON, JS): check the runtime shape, not just the static type.
  const v = value as { type: number; value: unknown };
  const bad = (what: string): never => {
    throw new GgufError(`metadata "${key}": ${what}`);
  };
  if (!isGgufType(v.type)) bad(`unknown value type ${v.type}`);
  switch (v.type) {
    case GgufType.UINT8: case GgufType.INT8: case GgufType.UINT16: case GgufType.INT16:
    case GgufType.UINT32: case GgufType.INT32: {
      const [lo, hi] = INT_RANGE[v.type];
      const n = v.value as number;
      if (typeof n !== "number" || !Number.isInteger(n) || n < lo || n > hi) bad(`${String(n)} is not a valid ${ggufTypeName(v.type)}`);
      return;
    }
    case GgufType.UINT64:
      if (typeof v.value !== "bigint" || v.value < 0n || v.value >= 1n << 64n) bad(`${String(v.value)} is not a valid u64`);
      return;
    case GgufType.INT64:
      if (typeof v.value !== "bigint" || v.value < -(1n << 63n) || v.value >= 1n << 63n) bad(`${String(v.value)} is not a valid i64`);
      return;
    case GgufType.FLOAT32: case GgufType.FLOAT64:
      if (typeof v.value !== "number") bad(`${String(v.value)} is not a number`);
      return;
    case GgufType.BOOL:
      if (typeof v.value !== "boolean") bad(`${String(v.value)} is not a boolean`);
      return;
    case GgufType.STRING:
      if (typeof v.value !== "string" || !v.value.isWellFormed()) bad(`value is not a well-formed string`);
      return;
    case GgufType.ARRAY:
      checkArray(key, v.value as GgufArray, depth + 1);
  }
}

function checkArray(key: string, a: GgufArray, depth: number): void {
  const bad = (what: string): never => {
    throw new GgufError(`metadata "${key}": ${what}`);
  };
  if (depth > GGUF_MAX_ARRAY_DEPTH) bad(`arrays nested deeper than ${GGUF_MAX_ARRAY_DEPTH}`);
  if (typeof a !== "object" || a === null) bad(`array value is not an { itemType, items } object`);
  if (!isGgufType(a.itemType)) bad(`unknown array item type ${a.itemType}`);
  const Ctor = typedArrayFor(a.itemType);
  if (Ctor !== undefined) {
    if (!(a.items instanceof Ctor)) bad(`array of ${ggufTypeName(a.itemType)} must be a ${Ctor.name}`);
    return;
  }
  if (!Array.isArray(a.items)) bad(`array of ${ggufTypeName(a.itemType)} must be a plain array`);
  const items = a.items as unknown[];
  if (a.itemType === GgufType.STRING) {
    for (const s of items) if (typeof s !== "string" || !s.isWellFormed()) bad(`array item is not a well-formed string`);
  } else if (a.itemType === GgufType.BOOL) {
    for (const b of items) if (typeof b !== "boolean") bad(`array item is not a boolean`);
  } else {
    for (const sub of items as GgufArray[]) checkArray(key, sub, depth + 1);
  }
}

function writeValue(s: ByteSink, v: GgufValue): void {
  switch (v.type) {
    case GgufType.STRING: s.string(v.value); return;
    case GgufType.BOOL: s.u8(v.value ? 1 : 0); return;
    case GgufType.ARRAY: writeArray(s, v.value); return;
    default: s.scalar(v.type, v.value);
  }
}

function writeArray(s: ByteSink, a: GgufArray): void {
  s.u32(a.itemType);
  s.u64(a.items.length);
  const items = a.items;
  if (a.itemType === GgufType.STRING) for (const x of items as string[]) s.string(x);
  else if (a.itemType === GgufType.BOOL) for (const x of items as boolean[]) s.u8(x ? 1 : 0);
  else if (a.itemType === GgufType.ARRAY) for (const x of items as GgufArray[]) writeArray(s, x);
  else {
    const t = items as Exclude<typeof items, unknown[]>;
    s.raw(new Uint8Array(t.buffer, t.byteOffset, t.byteLength)); // little-endian host, as the reader
  }
}

/** A growable little-endian byte buffer for the header. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }

  u64(v: number | bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }

  scalar(type: GgufType, v: number | bigint): void {
    this.ensure(8);
    const p = this.length;
    const d = this.view;
    switch (type) {
      case GgufType.UINT8: d.setUint8(p, v as number); this.length += 1; return;
      case GgufType.INT8: d.setInt8(p, v as number); this.length += 1; return;
      case GgufType.UINT16: d.setUint16(p, v as number, true); this.length += 2; return;
      case GgufType.INT16: d.setInt16(p, v as number, true); this.length += 2; return;
      case GgufType.UINT32: d.setUint32(p, v as number, true); this.length += 4; return;
      case GgufType.INT32: d.setInt32(p, v as number, true); this.length += 4; return;
      case GgufType.FLOAT32: d.setFloat32(p, v as number, true); this.length += 4; return;
      case GgufType.FLOAT64: d.setFloat64(p, v as number, true); this.length += 8; return;
      case GgufType.UINT64: d.setBigUint64(p, v as bigint, true); this.length += 8; return;
      case GgufType.INT64: d.setBigInt64(p, v as bigint, true); this.length += 8; return;
    }
  }

  string(s: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    this.ensure(8 + s.length * 3);
    const { written } = utf8.encodeInto(s, this.buf.subarray(this.length + 8));
    this.view.setBigUint64(this.length, BigInt(written), true);
    this.length += 8 + written;
  }

  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  pad(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
