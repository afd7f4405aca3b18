// GGUF vocabulary: metadata value types, the metadata value model, and the one table of ggml tensor
// types (block size, bytes per block) that every size computation in the project goes through.

import { GgufError } from "./errors.ts";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Deepest nesting of arrays accepted: real files use at most 2, and recursion must stay bounded. */
export const GGUF_MAX_ARRAY_DEPTH = 8;

// ─── Metadata value types ────────────────────────────────────────────────────────────────────────

/** GGUF metadata value type tags, as stored in the file (gguf.h `enum gguf_type`). */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufType = (typeof GgufType)[keyof typeof GgufType];

const GGUF_TYPE_NAMES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"];

export function isGgufType(t: number): t is GgufType {
  return Number.isInteger(t) && t >= 0 && t < GGUF_TYPE_NAMES.length;
}

export function ggufTypeName(t: number): string {
  return isGgufType(t) ? GGUF_TYPE_NAMES[t] : `unknown(${t})`;
}

/** Bytes of one fixed-size value; 0 for STRING and ARRAY (variable length). */
export function ggufTypeSize(t: GgufType): number {
  switch (t) {
    case GgufType.UINT8: case GgufType.INT8: case GgufType.BOOL: return 1;
    case GgufType.UINT16: case GgufType.INT16: return 2;
    case GgufType.UINT32: case GgufType.INT32: case GgufType.FLOAT32: return 4;
    case GgufType.UINT64: case GgufType.INT64: case GgufType.FLOAT64: return 8;
    default: return 0;
  }
}

export type GgufIntType =
  | typeof GgufType.UINT8 | typeof GgufType.INT8 | typeof GgufType.UINT16 | typeof GgufType.INT16
  | typeof GgufType.UINT32 | typeof GgufType.INT32;
export type GgufNumberType = GgufIntType | typeof GgufType.FLOAT32 | typeof GgufType.FLOAT64;
export type GgufBigIntType = typeof GgufType.UINT64 | typeof GgufType.INT64;

/**
 * The items of an array value. Numbers come back as the typed array of their exact type (so a
 * u32 array never turns into i32 on a round trip); 64-bit integers as BigInt arrays.
 */
export type GgufArrayItems =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array
  | boolean[] | string[] | GgufArray[];

export interface GgufArray {
  itemType: GgufType;
  items: GgufArrayItems;
}

/** One metadata value with its explicit type tag (the tag is what the writer emits). */
export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: typeof GgufType.BOOL; value: boolean }
  | { type: typeof GgufType.STRING; value: string }
  | { type: typeof GgufType.ARRAY; value: GgufArray };

/** The typed-array constructor that holds items of a fixed-size numeric GGUF type. */
export function typedArrayFor(t: GgufType) {
  switch (t) {
    case GgufType.UINT8: return Uint8Array;
    case GgufType.INT8: return Int8Array;
    case GgufType.UINT16: return Uint16Array;
    case GgufType.INT16: return Int16Array;
    case GgufType.UINT32: return Uint32Array;
    case GgufType.INT32: return Int32Array;
    case GgufType.FLOAT32: return Float32Array;
    case GgufType.FLOAT64: return Float64Array;
    case GgufType.UINT64: return BigUint64Array;
    case GgufType.INT64: return BigInt64Array;
    default: return undefined;
  }
}

/** Constructors for tagged values: `gv.u32(5)`, `gv.strings(["a"])`, `gv.array(GgufType.ARRAY, [...])`. */
export const gv = {
  u8: (value: number): GgufValue => ({ type: GgufType.UINT8, value }),
  i8: (value: number): GgufValue => ({ type: GgufType.INT8, value }),
  u16: (value: number): GgufValue => ({ type: GgufType.UINT16, value }),
  i16: (value: number): GgufValue => ({ type: GgufType.INT16, value }),
  u32: (value: number): GgufValue => ({ type: GgufType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufType.FLOAT32, value }),
  f64: (value: number): GgufValue => ({ type: GgufType.FLOAT64, value }),
  u64: (value: bigint | number): GgufValue => ({ type: GgufType.UINT64, value: BigInt(value) }),
  i64: (value: bigint | number): GgufValue => ({ type: GgufType.INT64, value: BigInt(value) }),
  bool: (value: boolean): GgufValue => ({ type: GgufType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufType.STRING, value }),
  array: (itemType: GgufType, items: GgufArrayItems): GgufValue => ({ type: GgufType.ARRAY, value: { itemType, items } }),
  strings: (items: string[]): GgufValue => gv.array(GgufType.STRING, items),
  f32s: (items: ArrayLike<number>): GgufValue => gv.array(GgufType.FLOAT32, Float32Array.from(items)),
  i32s: (items: ArrayLike<number>): GgufValue => gv.array(GgufType.INT32, Int32Array.from(items)),
  u32s: (items: ArrayLike<number>): GgufValue => gv.array(GgufType.UINT32, Uint32Array.from(items)),
};

// ─── ggml tensor types ───────────────────────────────────────────────────────────────────────────

/** ggml type ids (ggml.h `enum ggml_type`), plus I2_S = 36 from Microsoft's bitnet.cpp fork. */
export const GgmlType = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9,
  Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15,
  IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18, IQ1_S: 19, IQ4_NL: 20, IQ3_S: 21, IQ2_S: 22, IQ4_XS: 23,
  I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, IQ1_M: 29, BF16: 30,
  TQ1_0: 34, TQ2_0: 35, I2_S: 36, MXFP4: 39, NVFP4: 40, Q1_0: 41, Q2_0: 42,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

export interface GgmlTypeInfo {
  id: GgmlType;
  /** ggml's `type_name` (lowercase, e.g. `q4_K`, `tq2_0`, `i2_s`). */
  name: string;
  /** Elements per block; a row (ne0) must be a multiple of it. */
  blockSize: number;
  bytesPerBlock: number;
  /** Bytes after the blocks: I2_S keeps its one f32 scale there, padded to 32 bytes. */
  trailerBytes: number;
}

const QK_K = 256;

// bpw = bytesPerBlock * 8 / blockSize; the sums spell out the block structs of ggml-common.h.
const TYPE_TABLE: readonly GgmlTypeInfo[] = [
  { id: GgmlType.F32, name: "f32", blockSize: 1, bytesPerBlock: 4, trailerBytes: 0 },
  { id: GgmlType.F16, name: "f16", blockSize: 1, bytesPerBlock: 2, trailerBytes: 0 },
  { id: GgmlType.Q4_0, name: "q4_0", blockSize: 32, bytesPerBlock: 2 + 16, trailerBytes: 0 },
  { id: GgmlType.Q4_1, name: "q4_1", blockSize: 32, bytesPerBlock: 2 + 2 + 16, trailerBytes: 0 },
  { id: GgmlType.Q5_0, name: "q5_0", blockSize: 32, bytesPerBlock: 2 + 4 + 16, trailerBytes: 0 },
  { id: GgmlType.Q5_1, name: "q5_1", blockSize: 32, bytesPerBlock: 2 + 2 + 4 + 16, trailerBytes: 0 },
  { id: GgmlType.Q8_0, name: "q8_0", blockSize: 32, bytesPerBlock: 2 + 32, trailerBytes: 0 },
  { id: GgmlType.Q8_1, name: "q8_1", blockSize: 32, bytesPerBlock: 2 + 2 + 32, trailerBytes: 0 },
  { id: GgmlType.Q2_K, name: "q2_K", blockSize: QK_K, bytesPerBlock: 2 + 2 + QK_K / 16 + QK_K / 4, trailerBytes: 0 },
  { id: GgmlType.Q3_K, name: "q3_K", blockSize: QK_K, bytesPerBlock: 2 + QK_K / 4 + QK_K / 8 + 12, trailerBytes: 0 },
  { id: GgmlType.Q4_K, name: "q4_K", blockSize: QK_K, bytesPerBlock: 2 + 2 + 12 + QK_K / 2, trailerBytes: 0 },
  { id: GgmlType.Q5_K, name: "q5_K", blockSize: QK_K, bytesPerBlock: 2 + 2 + 12 + QK_K / 2 + QK_K / 8, trailerBytes: 0 },
  { id: GgmlType.Q6_K, name: "q6_K", blockSize: QK_K, bytesPerBlock: 2 + QK_K / 16 + (3 * QK_K) / 4, trailerBytes: 0 },
  { id: GgmlType.Q8_K, name: "q8_K", blockSize: QK_K, bytesPerBlock: 4 + QK_K + (QK_K / 16) * 2, trailerBytes: 0 },
  { id: GgmlType.IQ2_XXS, name: "iq2_xxs", blockSize: QK_K, bytesPerBlock: 2 + QK_K / 4, trailerBytes: 0 },
  { id: GgmlType.IQ2_XS, name: "iq2_xs", blockSize: QK_K, bytesPerBlock: 2 + QK_K / 4 + QK_K / 32, trailerBytes: 0 },
  { id: GgmlType.IQ3_XXS, name: "iq3_xxs", blockSize: QK_K, bytesPerBlock: 2 + (3 * QK_K) / 8, trailerBytes: 0 },
  { id: GgmlType.IQ1_S, name: "iq1_s", blockSize: QK_K, bytesPerBlock: 2 + QK_K / 8 + QK_K / 16, trailerBytes: 0 },
  { id: GgmlType.IQ4_NL, name: "iq4_nl", blockSize: 32, bytesPerBlock: 2 + 16, trailerBytes: 0 },
  { id: GgmlType.IQ3_S, name: "iq3_s", blockSize: QK_K, bytesPerBlock: 2 + 13 * (QK_K / 32) + QK_K / 64, trailerBytes: 0 },
  { id: GgmlType.IQ2_S, name: "iq2_s", blockSize: QK_K, bytesPerBlock: 2 + QK_K / 4 + QK_K / 16, trailerBytes: 0 },
  { id: GgmlType.IQ4_XS, name: "iq4_xs", blockSize: QK_K, bytesPerBlock: 2 + 2 + QK_K / 64 + QK_K / 2, trailerBytes: 0 },
  { id: GgmlType.I8, name: "i8", blockSize: 1, bytesPerBlock: 1, trailerBytes: 0 },
  { id: GgmlType.I16, name: "i16", blockSize: 1, bytesPerBlock: 2, trailerBytes: 0 },
  { id: GgmlType.I32, name: "i32", blockSize: 1, bytesPerBlock: 4, trailerBytes: 0 },
  { id: GgmlType.I64, name: "i64", blockSize: 1, bytesPerBlock: 8, trailerBytes: 0 },
  { id: GgmlType.F64, name: "f64", blockSize: 1, bytesPerBlock: 8, trailerBytes: 0 },
  { id: GgmlType.IQ1_M, name: "iq1_m", blockSize: QK_K, bytesPerBlock: QK_K / 8 + QK_K / 16 + QK_K / 32, trailerBytes: 0 },
  { id: GgmlType.BF16, name: "bf16", blockSize: 1, bytesPerBlock: 2, trailerBytes: 0 },
  // 1.6875 bpw: qs[48] (5 trits/byte) + qh[4] (4 trits/byte) + fp16 d.
  { id: GgmlType.TQ1_0, name: "tq1_0", blockSize: QK_K, bytesPerBlock: 48 + 4 + 2, trailerBytes: 0 },
  // 2.0625 bpw: qs[64] (4 × 2-bit codes/byte) + fp16 d.
  { id: GgmlType.TQ2_0, name: "tq2_0", blockSize: QK_K, bytesPerBlock: 64 + 2, trailerBytes: 0 },
  // 2 bpw: 128 codes per 32-byte block over the whole tensor, then one f32 scale padded to 32 bytes
  // (bitnet.cpp sizes it as n/4 + 32). Rows must be multiples of 128 so blocks never straddle rows.
  { id: GgmlType.I2_S, name: "i2_s", blockSize: 128, bytesPerBlock: 32, trailerBytes: 32 },
  { id: GgmlType.MXFP4, name: "mxfp4", blockSize: 32, bytesPerBlock: 1 + 16, trailerBytes: 0 },
  { id: GgmlType.NVFP4, name: "nvfp4", blockSize: 64, bytesPerBlock: 4 + 32, trailerBytes: 0 },
  { id: GgmlType.Q1_0, name: "q1_0", blockSize: 128, bytesPerBlock: 2 + 16, trailerBytes: 0 },
  { id: GgmlType.Q2_0, name: "q2_0", blockSize: 64, bytesPerBlock: 2 + 16, trailerBytes: 0 },
];

const TYPE_BY_ID: (GgmlTypeInfo | undefined)[] = [];
for (const t of TYPE_TABLE) TYPE_BY_ID[t.id] = t;

export const GGML_TYPES: readonly GgmlTypeInfo[] = TYPE_TABLE;

export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return Number.isInteger(id) && id >= 0 ? TYPE_BY_ID[id] : undefined;
}

export function isGgmlType(id: number): id is GgmlType {
  return ggmlTypeInfo(id) !== undefined;
}

export function ggmlTypeName(id: number): string {
  return ggmlTypeInfo(id)?.name ?? `unknown(${id})`;
}

/** Looks a type up by name, case-insensitively (`tq2_0`, `TQ2_0`, `q4_k`). */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  const lower = name.toLowerCase();
  return TYPE_TABLE.find((t) => t.name.toLowerCase() === lower);
}

/** Most dimensions a ggml tensor may have. */
export const GGML_MAX_DIMS = 4;
/** ggml keeps names in a 64-byte buffer including the NUL, so at most 63 bytes of UTF-8. */
export const GGML_MAX_NAME_BYTES = 63;

/** Product of the dimensions; each must be a positive integer and the product a safe integer. */
export function tensorElementCount(shape: readonly number[], tensorName = "?"): number {
  if (shape.length > GGML_MAX_DIMS) {
    throw new GgufError(`tensor "${tensorName}" has ${shape.length} dimensions (at most ${GGML_MAX_DIMS})`);
  }
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isSafeInteger(d) || d < 1) {
      throw new GgufError(`tensor "${tensorName}" dimension ${i} is ${d} (must be a positive integer)`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new GgufError(`tensor "${tensorName}" shape [${shape.join(", ")}] has more than 2^53 elements`);
    }
  }
  return n;
}

/**
 * Bytes a tensor of this type and shape (ggml order, ne0 first) occupies in a GGUF file.
 * Throws a GgufError naming the tensor for an unknown type, a bad dimension, or a row length that
 * is not a multiple of the type's block size.
 */
export function tensorByteSize(type: number, shape: readonly number[], tensorName = "?"): number {
  const info = ggmlTypeInfo(type);
  if (info === undefined) throw new GgufError(`tensor "${tensorName}" has unknown ggml type ${type}`);
  const n = tensorElementCount(shape, tensorName);
  const ne0 = shape.length > 0 ? shape[0] : 1;
  if (ne0 % info.blockSize !== 0) {
    throw new GgufError(
      `tensor "${tensorName}" of type ${info.name} has ${ne0} elements per row, not a multiple of the block size ${info.blockSize}`,
    );
  }
  const size = (n / info.blockSize) * info.bytesPerBlock + info.trailerBytes;
  if (!Number.isSafeInteger(size)) {
    throw new GgufError(`tensor "${tensorName}" shape [${shape.join(", ")}] is too large (${size} bytes)`);
  }
  return size;
}
