// The GGUF reader: parses header, metadata and tensor infos from untrusted bytes (usually a
// memory-mapped file), checking every count, length, type and offset before it is used.

import { statSync } from "node:fs";
import { Cursor } from "./cursor.ts";
import { GgufError } from "./errors.ts";
import {
  GGML_MAX_DIMS, GGML_MAX_NAME_BYTES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_ARRAY_DEPTH, GgufType, ggmlTypeInfo, ggufTypeName, isGgufType, typedArrayFor,
  type GgmlType, type GgufArray, type GgufArrayItems, type GgufValue,
} from "./types.ts";


export interface TensorInfo {
  name: string;
  type: GgmlType;
  typeName: string;
  /** ggml order: ne0 (the contiguous row length) first. */
  shape: number[];
  nElements: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteSize: number;
  /** The tensor's bytes: a zero-copy view into the file. */
  data(): Uint8Array;
}

export class GgufFile {
  private readonly byName = new Map<string, TensorInfo>();

  constructor(
    readonly bytes: Uint8Array,
    readonly file: string | undefined,
    readonly version: number,
    readonly metadata: Map<string, GgufValue>,
    /** Byte offset of each metadata value (for error messages from the typed getters). */
    private readonly valueOffsets: Map<string, number>,
    readonly tensors: TensorInfo[],
    readonly alignment: number,
    /** Absolute offset of the data section (tensor offsets in the file are relative to it). */
    readonly dataOffset: number,
  ) {
    for (const t of tensors) this.byName.set(t.name, t);
  }

  get size(): number {
    return this.bytes.length;
  }

  tensor(name: string): TensorInfo | undefined {
    return this.byName.get(name);
  }

  get(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  private wrongType(key: string, v: GgufValue, expected: string): never {
    const got = v.type === GgufType.ARRAY ? `array of ${ggufTypeName(v.value.itemType)}` : ggufTypeName(v.type);
    throw new GgufError(`key "${key}" is ${got}, expected ${expected}`, this.valueOffsets.get(key), this.file);
  }

  getString(key: string): string | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== GgufType.STRING) this.wrongType(key, v, "string");
    return v.value;
  }

  /** Any integer type (u8 … i64); the value must be a safe JS integer. */
  getInt(key: string): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    switch (v.type) {
      case GgufType.UINT8: case GgufType.INT8: case GgufType.UINT16: case GgufType.INT16:
      case GgufType.UINT32: case GgufType.INT32:
        return v.value;
      case GgufType.UINT64: case GgufType.INT64: {
        const n = Number(v.value);
        if (!Number.isSafeInteger(n)) {
          throw new GgufError(`key "${key}" = ${v.value} does not fit a safe integer`, this.valueOffsets.get(key), this.file);
        }
        return n;
      }
      default:
        return this.wrongType(key, v, "an integer");
    }
  }

  /** Any integer type whose value lies in [0, 2^32). */
  getU32(key: string): number | undefined {
    const n = this.getInt(key);
    if (n !== undefined && (n < 0 || n > 0xffffffff)) {
      throw new GgufError(`key "${key}" = ${n} is out of range for u32`, this.valueOffsets.get(key), this.file);
    }
    return n;
  }

  /** f32 or f64 (integers are accepted too: a float hyper-parameter written as an int is still fine). */
  getFloat(key: string): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type === GgufType.FLOAT32 || v.type === GgufType.FLOAT64) return v.value;
    if (v.type === GgufType.STRING || v.type === GgufType.BOOL || v.type === GgufType.ARRAY) {
      return this.wrongType(key, v, "a number");
    }
    return this.getInt(key);
  }

  getBool(key: string): boolean | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== GgufType.BOOL) this.wrongType(key, v, "bool");
    return v.value;
  }

  getArray(key: string): GgufArray | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== GgufType.ARRAY) this.wrongType(key, v, "array");
    return v.value;
  }

  getStringArray(key: string): string[] | undefined {
    const a = this.getArray(key);
    if (a === undefined) return undefined;
    if (a.itemType !== GgufType.STRING) this.wrongType(key, this.metadata.get(key)!, "array of string");
    return a.items as string[];
  }
}

/** Memory-maps a GGUF file and parses it; tensor `data()` views point into the mapping. */
export function openGguf(path: string): GgufFile {
  let bytes: Uint8Array;
  try {
    // A private (copy-on-write) mapping: a stray write through a view can never modify the file.
    bytes = statSync(path).size === 0 ? new Uint8Array(0) : Bun.mmap(path, { shared: false });
  } catch (e) {
    throw new GgufError(`cannot open: ${(e as Error).message}`, undefined, path);
  }
  return parseGguf(bytes, path);
}

export function parseGguf(bytes: Uint8Array, name?: string): GgufFile {
  const c: Cursor = new Cursor(bytes, name); // explicitly typed so `c.fail()` narrows as `never`

  // Header: magic, version, tensor count, metadata count.
  if (c.size < 4) c.fail(`file is ${c.size} bytes, too small to be GGUF`);
  const magic = c.u32("magic");
  if (magic !== GGUF_MAGIC) {
    const shown = Array.from(bytes.subarray(0, 4), (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    c.fail(`bad magic "${shown}" (expected "GGUF")`, 0);
  }
  const version = c.u32("version");
  if (version !== 2 && version !== 3) {
    const hint = version === 1 ? " (GGUF v1 is obsolete)" : (version & 0xffff) === 0 ? " (a big-endian file?)" : "";
    c.fail(`unsupported GGUF version ${version}${hint}; supported: 2, 3`, 4);
  }
  // Smallest possible tensor info: name length 8 + 1 byte, n_dims 4, type 4, offset 8.
  const nTensors = c.count("tensor count", 25);
  // Smallest possible key/value: key length 8 + 1 byte, type 4, a 1-byte value.
  const nKv = c.count("metadata count", 14);

  // Metadata, in file order.
  const metadata = new Map<string, GgufValue>();
  const valueOffsets = new Map<string, number>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = c.pos;
    const key = c.string(`key of metadata entry ${i}`);
    if (key.length === 0) c.fail(`metadata entry ${i} has an empty key`, keyAt);
    if (metadata.has(key)) c.fail(`duplicate metadata key "${key}"`, keyAt);
    const typeAt = c.pos;
    const type = c.u32(`type of "${key}"`);
    if (!isGgufType(type)) c.fail(`key "${key}" has unknown value type ${type}`, typeAt);
    valueOffsets.set(key, c.pos);
    metadata.set(key, readValue(c, type, key, 0));
  }

  // Alignment: must be a u32 power of two, as ggml requires.
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const align = metadata.get("general.alignment");
  if (align !== undefined) {
    const at = valueOffsets.get("general.alignment");
    if (align.type !== GgufType.UINT32) c.fail(`general.alignment is ${ggufTypeName(align.type)}, must be u32`, at);
    if (align.value === 0 || (align.value & (align.value - 1)) !== 0) {
      c.fail(`general.alignment ${align.value} is not a power of two`, at);
    }
    alignment = align.value;
  }

  // Tensor infos.
  interface RawTensor { name: string; type: GgmlType; shape: number[]; nElements: number; byteSize: number; rel: bigint; at: number }
  const raw: RawTensor[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = c.pos;
    const name = c.string(`name of tensor ${i}`);
    if (name.length === 0) c.fail(`tensor ${i} has an empty name`, at);
    if (c.pos - at - 8 > GGML_MAX_NAME_BYTES) {
      c.fail(`tensor name "${name}" is longer than ${GGML_MAX_NAME_BYTES} bytes`, at);
    }
    if (seen.has(name)) c.fail(`duplicate tensor name "${name}"`, at);
    seen.add(name);

    const dimsAt = c.pos;
    const nDims = c.u32(`dimension count of tensor "${name}"`);
    if (nDims > GGML_MAX_DIMS) c.fail(`tensor "${name}" has ${nDims} dimensions (at most ${GGML_MAX_DIMS})`, dimsAt);
    const shape: number[] = [];
    let product = 1n;
    for (let d = 0; d < nDims; d++) {
      const dimAt = c.pos;
      const ne = c.u64(`dimension ${d} of tensor "${name}"`);
      // ggml stores dims as int64: zero or "negative" (≥ 2^63) sizes are invalid.
      if (ne === 0n || ne >= 1n << 63n) c.fail(`tensor "${name}" dimension ${d} is ${BigInt.asIntN(64, ne)}`, dimAt);
      product *= ne;
      if (product > BigInt(Number.MAX_SAFE_INTEGER)) {
        c.fail(`tensor "${name}" has more than 2^53 elements (dimension ${d} is ${ne})`, dimAt);
      }
      shape.push(Number(ne));
    }
    const nElements = Number(product);

    const typeAt = c.pos;
    const type = c.u32(`type of tensor "${name}"`);
    const info = ggmlTypeInfo(type);
    if (info === undefined) c.fail(`tensor "${name}" has unknown ggml type ${type}`, typeAt);
    const ne0 = nDims > 0 ? shape[0] : 1;
    if (ne0 % info.blockSize !== 0) {
      c.fail(`tensor "${name}" of type ${info.name} has rows of ${ne0} elements, not a multiple of its block size ${info.blockSize}`, typeAt);
    }
    const byteSize = (nElements / info.blockSize) * info.bytesPerBlock + info.trailerBytes;

    const rel = c.u64(`data offset of tensor "${name}"`);
    raw.push({ name, type: info.id, shape, nElements, byteSize, rel, at });
  }

  // Data section: starts at the next multiple of the alignment after the tensor infos.
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (nTensors > 0 && dataOffset > c.size) {
    c.fail(`data section would start at byte ${dataOffset}, past the end of the file (size ${c.size})`);
  }

  const tensors: TensorInfo[] = [];
  for (const r of raw) {
    if (r.rel % BigInt(alignment) !== 0n) {
      c.fail(`tensor "${r.name}" data offset ${r.rel} is not a multiple of the alignment ${alignment}`, r.at);
    }
    const start = BigInt(dataOffset) + r.rel;
    const end = start + BigInt(r.byteSize);
    if (end > BigInt(c.size)) {
      c.fail(`tensor "${r.name}" data [${start}, ${end}) runs past end of file (size ${c.size})`, r.at);
    }
    const offset = Number(start);
    const byteSize = r.byteSize;
    tensors.push({
      name: r.name, type: r.type, typeName: ggmlTypeInfo(r.type)!.name, shape: r.shape, nElements: r.nElements,
      offset, byteSize, data: () => bytes.subarray(offset, offset + byteSize),
    });
  }

  // No two tensors may share bytes (a forged file could alias weights to each other).
  const order = tensors.map((_, i) => i).sort((a, b) => tensors[a].offset - tensors[b].offset);
  for (let k = 1; k < order.length; k++) {
    const prev = tensors[order[k - 1]];
    const cur = tensors[order[k]];
    if (prev.offset + prev.byteSize > cur.offset) {
      c.fail(
        `tensor "${cur.name}" data [${cur.offset}, ${cur.offset + cur.byteSize}) overlaps tensor "${prev.name}" [${prev.offset}, ${prev.offset + prev.byteSize})`,
        raw[order[k]].at,
      );
    }
  }

  return new GgufFile(bytes, name, version, metadata, valueOffsets, tensors, alignment, dataOffset);
}

const SCALAR_KIND: Record<number, ["u" | "i" | "f", 1 | 2 | 4 | 8]> = {
  [GgufType.UINT8]: ["u", 1], [GgufType.INT8]: ["i", 1], [GgufType.UINT16]: ["u", 2], [GgufType.INT16]: ["i", 2],
  [GgufType.UINT32]: ["u", 4], [GgufType.INT32]: ["i", 4], [GgufType.FLOAT32]: ["f", 4],
  [GgufType.UINT64]: ["u", 8], [GgufType.INT64]: ["i", 8], [GgufType.FLOAT64]: ["f", 8],
};

function readValue(c: Cursor, type: GgufType, key: string, depth: number): GgufValue {
  switch (type) {
    case GgufType.STRING:
      return { type, value: c.string(`value of "${key}"`) };
    case GgufType.BOOL:
      return { type, value: readBool(c, key, `value of "${key}"`) };
    case GgufType.ARRAY:
      return { type, value: readArray(c, key, depth + 1) };
    default: {
      const [kind, size] = SCALAR_KIND[type];
      const v = c.scalar(size, kind, `value of "${key}"`);
      return { type, value: v } as GgufValue;
    }
  }
}

function readBool(c: Cursor, key: string, what: string): boolean {
  const at = c.pos;
  const b = c.u8(what);
  if (b > 1) c.fail(`key "${key}" has bool byte ${b} (must be 0 or 1)`, at);
  return b === 1;
}

function readArray(c: Cursor, key: string, depth: number): GgufArray {
  const at = c.pos;
  if (depth > GGUF_MAX_ARRAY_DEPTH) c.fail(`key "${key}" nests arrays deeper than ${GGUF_MAX_ARRAY_DEPTH}`, at);
  const itemType = c.u32(`item type of array "${key}"`);
  if (!isGgufType(itemType)) c.fail(`array "${key}" has unknown item type ${itemType}`, at);

  let items: GgufArrayItems;
  if (itemType === GgufType.STRING) {
    const n = c.count(`length of array "${key}"`, 8); // each string costs at least its u64 length
    const strings: string[] = new Array(n);
    const what = `an item of array "${key}"`; // built once: this loop runs per vocabulary entry
    for (let i = 0; i < n; i++) strings[i] = c.string(what);
    items = strings;
  } else if (itemType === GgufType.ARRAY) {
    const n = c.count(`length of array "${key}"`, 12); // item type u32 + count u64
    const nested: GgufArray[] = new Array(n);
    for (let i = 0; i < n; i++) nested[i] = readArray(c, key, depth + 1);
    items = nested;
  } else if (itemType === GgufType.BOOL) {
    const n = c.count(`length of array "${key}"`, 1);
    const bools: boolean[] = new Array(n);
    const what = `an item of array "${key}"`;
    for (let i = 0; i < n; i++) bools[i] = readBool(c, key, what);
    items = bools;
  } else {
    const Ctor = typedArrayFor(itemType)!;
    const n = c.count(`length of array "${key}"`, Ctor.BYTES_PER_ELEMENT);
    // Copied: the file offset is rarely aligned to the element size (assumes a little-endian host).
    items = new Ctor(c.copy(n * Ctor.BYTES_PER_ELEMENT, `items of "${key}"`));
  }
  return { itemType, items };
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("the GGUF reader assumes a little-endian host");
}
