// Constrained decoding to schema-valid JSON: a byte-level pushdown recogniser over the node graph of
// json-schema-compile.ts, with immutable states so a sampler can try many tokens from one state.
//
// A state is a tree of frames (document → containers → the value being written). JSON's syntax is
// deterministic, so only the schema reading branches: where a value may match several schemas
// (anyOf, type arrays), a union frame holds one live frame per candidate and drops those a byte kills.
// Every state is live: a byte is accepted only if some valid document still extends the text (the
// compiler's minDepth analysis, key tries and the numeric grid make that check exact), so a sampler
// that always picks an allowed token never gets stuck.
//
// Strings and numbers are lexed in json-lexers.ts. Bounds that keep a looping model finite: between
// JSON tokens at most `" "` or `"\n"` plus 20 spaces or tabs (llama.cpp's json-schema grammar rule),
// strings ≤ maxStringLength code points (default 4096) unless maxLength says otherwise, keys ≤ 256,
// numbers ≤ 15 digits (+ a 2-digit exponent when unbounded), nesting ≤ 32 containers.

import {
  DONE, type Done, type NumFrame, numCanEnd, QUOTE, startNum, StrFrame, stepNum, stepStr, T_ARR, T_DOC, T_DONE,
  T_LIT, T_NUM, T_OBJ, T_STR, T_UNION,
} from "./json-lexers.ts";
import { type CompileOptions, compileSchema, type JsonSchema } from "./json-schema-compile.ts";
import { type ArrayNode, itemAt, type Leaf, MAX_DEPTH, type Node, type ObjectNode, Trie } from "./json-schema-graph.ts";

export { type JsonSchema, SchemaError } from "./json-schema-compile.ts";

declare const stateBrand: unique symbol;
/** Opaque and immutable: `advance` returns a new one and old ones stay valid. */
export type ConstraintState = { readonly [stateBrand]: true };

export interface Constraint {
  start(): ConstraintState;
  /** Feeds one token's bytes (UTF-8, characters may be split across tokens); null if no valid document starts with the text so far. */
  advance(s: ConstraintState, bytes: Uint8Array): ConstraintState | null;
  /** The text so far is a complete valid document (EOS is allowed here). */
  canEnd(s: ConstraintState): boolean;
  /** Complete, and nothing but whitespace could follow: generation must stop now. */
  mustEnd(s: ConstraintState): boolean;
}

export interface ConstraintOptions extends Partial<CompileOptions> {}

const MAX_STRING_LENGTH = 4096;
const MAX_KEY_LENGTH = 256;
const MAX_INDENT = 20;

/** A constraint for `schema`; null: any JSON object (response_format json_object). Throws SchemaError. */
export function jsonConstraint(schema: JsonSchema | null, options: ConstraintOptions = {}): Constraint {
  const root = compileSchema(schema, { maxStringLength: options.maxStringLength ?? MAX_STRING_LENGTH });
  return new JsonConstraint(root);
}

/**
 * Picks a token: the first candidate (in the order given, e.g. the sampled one, then by descending
 * logit) whose bytes keep the constraint valid, with the new state; an end-of-generation token only
 * where the document can end (state null). Tokens without bytes are skipped: they would let a model
 * stall forever without writing anything.
 */
export function firstAllowed(
  c: Constraint,
  s: ConstraintState,
  candidates: Iterable<number>,
  tokenBytes: (t: number) => Uint8Array,
  isEog: (t: number) => boolean,
): { token: number; state: ConstraintState | null } | null {
  let end: boolean | null = null;
  for (const token of candidates) {
    if (isEog(token)) {
      if ((end ??= c.canEnd(s))) return { token, state: null };
      continue;
    }
    const bytes = tokenBytes(token);
    if (bytes.length === 0) continue;
    const next = c.advance(s, bytes);
    if (next !== null) return { token, state: next };
  }
  return null;
}

// ---- frames ----------------------------------------------------------------------------------------

class LitFrame {
  readonly t = T_LIT;
  constructor(readonly trie: Trie) {}
}

class UnionFrame {
  readonly t = T_UNION;
  constructor(readonly kids: Frame[]) {}
}

class ObjFrame {
  readonly t = T_OBJ;
  constructor(
    readonly node: ObjectNode,
    /** Containers the values may still open. */
    readonly avail: number,
    readonly ph: number,
    readonly ws: number,
    /** (props.length) 1 once the property's key was written; copied on write. */
    readonly seen: Uint8Array,
    /** Keys written that are not declared properties. */
    readonly extra: readonly string[],
    /** The key being written: a trie node (closed objects) or a string frame (open ones). */
    readonly key: Trie | StrFrame | null,
    /** The property whose value is being written: index into props, −1 for an additional one. */
    readonly prop: number,
    readonly child: Frame | null,
  ) {}
}

class ArrFrame {
  readonly t = T_ARR;
  constructor(
    readonly node: ArrayNode,
    readonly avail: number,
    readonly ph: number,
    readonly ws: number,
    /** Items started so far. */
    readonly count: number,
    readonly child: Frame | null,
  ) {}
}

class DocFrame {
  readonly t = T_DOC;
  constructor(
    readonly root: Node,
    readonly ph: number,
    readonly ws: number,
    readonly child: Frame | null,
  ) {}
}

type Frame = DocFrame | ObjFrame | ArrFrame | StrFrame | NumFrame | LitFrame | UnionFrame | Done;

// Object phases: after '{' · in a key · after a key · after ':' · in a value · after a value · after ','.
const O_OPEN = 0, O_KEY = 1, O_COLON = 2, O_VALUE = 3, O_VAL = 4, O_AFTER = 5, O_COMMA = 6;
// Array phases: after '[' · in an item · after an item · after ','.
const A_OPEN = 0, A_VAL = 1, A_AFTER = 2, A_COMMA = 3;
// Document phases: before the value · in it · after it.
const D_LEAD = 0, D_VAL = 1, D_TRAIL = 2;

const COMMA = 0x2c, COLON = 0x3a;
const LBRACE = 0x7b, RBRACE = 0x7d, LBRACKET = 0x5b, RBRACKET = 0x5d;
const SPACE = 0x20, TAB = 0x09, LF = 0x0a, CR = 0x0d;

/** Bytes that can extend a value that is already complete (only numbers can grow). */
const NUMBER_BYTES = new TextEncoder().encode("0123456789.eE+-");

function isWs(b: number): boolean {
  return b === SPACE || b === LF || b === TAB || b === CR;
}

/**
 * Whitespace between tokens: one of "", " ", "\n" + up to MAX_INDENT spaces/tabs. `ws` is 0 before
 * any, 1 after a lone space, 2 + k after a newline and k indent characters; −1: not allowed.
 */
function gap(ws: number, b: number): number {
  if (b === LF) return ws === 0 ? 2 : -1;
  if (ws >= 2) return ws < 2 + MAX_INDENT && (b === SPACE || b === TAB) ? ws + 1 : -1;
  return ws === 0 && b === SPACE ? 1 : -1;
}

function canEnd(f: Frame): boolean {
  switch (f.t) {
    case T_DONE:
      return true;
    case T_LIT:
      return f.trie.end >= 0;
    case T_NUM:
      return numCanEnd(f);
    case T_UNION:
      return f.kids.some(canEnd);
    case T_DOC:
      return f.ph === D_TRAIL || (f.ph === D_VAL && canEnd(f.child!));
    default:
      return false;
  }
}

function step(f: Frame, b: number): Frame | null {
  switch (f.t) {
    case T_DOC:
      return stepDoc(f, b);
    case T_OBJ:
      return stepObj(f, b);
    case T_ARR:
      return stepArr(f, b);
    case T_STR:
      return stepStr(f, b);
    case T_NUM:
      return stepNum(f, b);
    case T_LIT:
      return litFrame(f.trie.next.get(b));
    case T_UNION:
      return stepUnion(f, b);
    case T_DONE:
      return null;
  }
}

// ---- values ----------------------------------------------------------------------------------------

/** The frame for a value of `node` whose first byte is `b`, with `avail` container levels left. */
function start(node: Node, avail: number, b: number): Frame | null {
  let one: Frame | null = null;
  let many: Frame[] | null = null;
  for (const leaf of node.leaves) {
    if (leaf.minDepth > avail) continue;
    const f = startLeaf(leaf, avail, b);
    if (f === null) continue;
    if (one === null) one = f;
    else (many ??= [one]).push(f);
  }
  return many === null ? one : union(many);
}

function startLeaf(leaf: Leaf, avail: number, b: number): Frame | null {
  switch (leaf.kind) {
    case "object":
      return b === LBRACE ? new ObjFrame(leaf, avail - 1, O_OPEN, 0, leaf.noneSeen, [], null, -1, null) : null;
    case "array":
      return b === LBRACKET ? new ArrFrame(leaf, avail - 1, A_OPEN, 0, 0, null) : null;
    case "string":
      return b === QUOTE ? new StrFrame(leaf.minLength, leaf.maxLength, 0, 0, 0, 0, null) : null;
    case "number":
      return startNum(leaf, b);
    case "lit":
      return litFrame(leaf.trie.next.get(b));
  }
}

function litFrame(t: Trie | undefined): Frame | null {
  if (t === undefined) return null;
  return t.end >= 0 && t.next.size === 0 ? DONE : new LitFrame(t);
}

function union(kids: Frame[]): Frame {
  return kids.every((k) => k === DONE) ? DONE : new UnionFrame(kids);
}

function stepUnion(f: UnionFrame, b: number): Frame | null {
  // Candidates parse the same JSON text, so a byte one of them takes is never a delimiter after
  // another's complete value: survivors are all that matter (completions end in the parent).
  let one: Frame | null = null;
  let many: Frame[] | null = null;
  for (const kid of f.kids) {
    const r = step(kid, b);
    if (r === null) continue;
    if (one === null) one = r;
    else (many ??= [one]).push(r);
  }
  return many === null ? one : union(many);
}

// ---- containers ------------------------------------------------------------------------------------

function objCopy(f: ObjFrame, ph: number, ws: number, key: Trie | StrFrame | null, child: Frame | null): ObjFrame {
  return new ObjFrame(f.node, f.avail, ph, ws, f.seen, f.extra, key, f.prop, child);
}

/** Can property `i` still be written here (not yet written, and its value fits the depth left)? */
function propOpen(f: ObjFrame, i: number): boolean {
  return f.seen[i] === 0 && f.node.props[i].node.minDepth <= f.avail;
}

function additionalFits(f: ObjFrame): boolean {
  return f.node.additional !== null && f.node.additional.minDepth <= f.avail;
}

function mayAddKey(f: ObjFrame): boolean {
  if (additionalFits(f)) return true;
  for (let i = 0; i < f.node.props.length; i++) if (propOpen(f, i)) return true;
  return false;
}

function stepObj(f: ObjFrame, b: number): Frame | null {
  const ph = f.ph;
  if (ph === O_KEY) return stepKey(f, b);
  if (ph === O_VAL) {
    const child = f.child!;
    const r = step(child, b);
    if (r !== null) return r === DONE ? objCopy(f, O_AFTER, 0, null, null) : objCopy(f, O_VAL, 0, null, r);
    if (!canEnd(child)) return null;
    return stepObj(objCopy(f, O_AFTER, 0, null, null), b);
  }
  if (isWs(b)) {
    const ws = gap(f.ws, b);
    return ws < 0 ? null : objCopy(f, ph, ws, null, null);
  }
  switch (ph) {
    case O_OPEN:
      if (b === RBRACE) return f.node.required.length === 0 ? DONE : null;
      return b === QUOTE ? beginKey(f) : null;
    case O_COMMA:
      return b === QUOTE ? beginKey(f) : null;
    case O_COLON:
      return b === COLON ? objCopy(f, O_VALUE, 0, null, null) : null;
    case O_VALUE: {
      const node = f.prop >= 0 ? f.node.props[f.prop].node : f.node.additional!;
      const child = start(node, f.avail, b);
      if (child === null) return null;
      return child === DONE ? objCopy(f, O_AFTER, 0, null, null) : objCopy(f, O_VAL, 0, null, child);
    }
    case O_AFTER:
      if (b === COMMA) return mayAddKey(f) ? objCopy(f, O_COMMA, 0, null, null) : null;
      if (b === RBRACE) return f.node.required.every((i) => f.seen[i] === 1) ? DONE : null;
      return null;
  }
  return null;
}

function beginKey(f: ObjFrame): ObjFrame | null {
  // Any key may be written where other keys are allowed (then known names are matched once it
  // closes); otherwise only the declared names, through their trie.
  if (additionalFits(f)) return objCopy(f, O_KEY, 0, new StrFrame(0, MAX_KEY_LENGTH, 0, 0, 0, 0, ""), null);
  const t = f.node.keys.next.get(QUOTE);
  return t !== undefined && keyLive(f, t) ? objCopy(f, O_KEY, 0, t, null) : null;
}

function keyLive(f: ObjFrame, t: Trie): boolean {
  for (const i of t.under) if (propOpen(f, i)) return true;
  return false;
}

function stepKey(f: ObjFrame, b: number): Frame | null {
  const key = f.key!;
  if (key instanceof StrFrame) {
    if (b === QUOTE && key.e === 0 && key.c === 0) return closeKey(f, key.raw!);
    const r = stepStr(key, b) as StrFrame | null;
    if (r === null) return null;
    // At the length cap the key must close next: make sure that close would be accepted.
    if (r.n === r.max && r.e === 0 && r.c === 0 && closeKey(f, r.raw!) === null) return null;
    return objCopy(f, O_KEY, 0, r, null);
  }
  const t = key.next.get(b);
  if (t === undefined || !keyLive(f, t)) return null;
  if (t.end < 0) return objCopy(f, O_KEY, 0, t, null);
  return claim(f, t.end, f.extra);
}

function claim(f: ObjFrame, prop: number, extra: readonly string[]): ObjFrame {
  let seen = f.seen;
  if (prop >= 0) {
    seen = seen.slice();
    seen[prop] = 1;
  }
  return new ObjFrame(f.node, f.avail, O_COLON, 0, seen, extra, null, prop, null);
}

const utf8 = new TextDecoder();

/** A closed key of an open object: a declared property not yet written, or a new additional key. */
function closeKey(f: ObjFrame, raw: string): ObjFrame | null {
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  const name = JSON.parse(`"${utf8.decode(bytes)}"`) as string;
  const i = f.node.byName.get(name);
  if (i !== undefined) return propOpen(f, i) ? claim(f, i, f.extra) : null;
  return f.extra.includes(name) ? null : claim(f, -1, [...f.extra, name]);
}

function stepArr(f: ArrFrame, b: number): Frame | null {
  const ph = f.ph;
  if (ph === A_VAL) {
    const child = f.child!;
    const r = step(child, b);
    if (r !== null) {
      return r === DONE
        ? new ArrFrame(f.node, f.avail, A_AFTER, 0, f.count, null)
        : new ArrFrame(f.node, f.avail, A_VAL, 0, f.count, r);
    }
    if (!canEnd(child)) return null;
    return stepArr(new ArrFrame(f.node, f.avail, A_AFTER, 0, f.count, null), b);
  }
  if (isWs(b)) {
    const ws = gap(f.ws, b);
    return ws < 0 ? null : new ArrFrame(f.node, f.avail, ph, ws, f.count, null);
  }
  if (ph === A_AFTER) {
    if (b === COMMA) return itemFits(f) ? new ArrFrame(f.node, f.avail, A_COMMA, 0, f.count, null) : null;
    return b === RBRACKET && f.count >= f.node.minItems ? DONE : null;
  }
  if (ph === A_OPEN && b === RBRACKET) return f.node.minItems === 0 ? DONE : null;
  if (!itemFits(f)) return null;
  const child = start(itemAt(f.node, f.count)!, f.avail, b);
  if (child === null) return null;
  return child === DONE
    ? new ArrFrame(f.node, f.avail, A_AFTER, 0, f.count + 1, null)
    : new ArrFrame(f.node, f.avail, A_VAL, 0, f.count + 1, child);
}

/** May another item start (count below maxItems, and an item schema with a value that fits)? */
function itemFits(f: ArrFrame): boolean {
  if (f.count >= f.node.maxItems) return false;
  const item = itemAt(f.node, f.count);
  return item !== null && item.minDepth <= f.avail;
}

// ---- the document ----------------------------------------------------------------------------------

function stepDoc(f: DocFrame, b: number): DocFrame | null {
  if (f.ph === D_VAL) {
    const child = f.child!;
    const r = step(child, b);
    if (r !== null) return new DocFrame(f.root, r === DONE ? D_TRAIL : D_VAL, 0, r === DONE ? null : r);
    if (!canEnd(child)) return null;
    return stepDoc(new DocFrame(f.root, D_TRAIL, 0, null), b);
  }
  if (isWs(b)) {
    const ws = gap(f.ws, b);
    return ws < 0 ? null : new DocFrame(f.root, f.ph, ws, null);
  }
  if (f.ph === D_TRAIL) return null;
  const child = start(f.root, MAX_DEPTH, b);
  if (child === null) return null;
  return new DocFrame(f.root, child === DONE ? D_TRAIL : D_VAL, 0, child === DONE ? null : child);
}

class JsonConstraint implements Constraint {
  constructor(private readonly root: Node) {}

  start(): ConstraintState {
    return new DocFrame(this.root, D_LEAD, 0, null) as unknown as ConstraintState;
  }

  advance(s: ConstraintState, bytes: Uint8Array): ConstraintState | null {
    let f: DocFrame | null = s as unknown as DocFrame;
    for (let i = 0; i < bytes.length && f !== null; i++) f = stepDoc(f, bytes[i]);
    return f as unknown as ConstraintState | null;
  }

  canEnd(s: ConstraintState): boolean {
    return canEnd(s as unknown as DocFrame);
  }

  mustEnd(s: ConstraintState): boolean {
    const f = s as unknown as DocFrame;
    if (!canEnd(f)) return false;
    for (const b of NUMBER_BYTES) if (stepDoc(f, b) !== null) return false;
    return true;
  }
}
