// The node graph a JSON schema compiles to, and the analyses on it: which values a node admits
// (validate), the fewest containers its values open (minDepth: Infinity = none), its leaves, and
// whether two nodes can share a value (for oneOf).

import { type Bounds, canReach } from "./json-number.ts";

const utf8 = new TextEncoder();

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Containers a document may nest (the bound for `{}`-typed values and recursive schemas). */
export const MAX_DEPTH = 32;

/** Byte trie of JSON texts (property keys, enum values): `end` ≥ 0 where a text ends, its index. */
export class Trie {
  readonly next = new Map<number, Trie>();
  end = -1;
  /** Indices of the texts below this node (the keys a prefix can still become). */
  readonly under: number[] = [];
}

interface NodeBase {
  /** Containers the shortest value of this node opens (0: a scalar); Infinity: no value at all. */
  minDepth: number;
  /** The non-union, non-ref nodes a value may start as (those with a value at all). */
  leaves: Leaf[];
}
export interface Prop {
  name: string;
  node: Node;
}
export interface ObjectNode extends NodeBase {
  kind: "object";
  /** Declared properties, then required names that are not declared (typed by `additional`). */
  props: Prop[];
  byName: Map<string, number>;
  required: number[];
  /** Schema of any other key; null: no other key. */
  additional: Node | null;
  /** Trie of JSON.stringify(name) bytes, quotes included, for closed objects. */
  keys: Trie;
  /** (props.length) zeros: the shared "no key seen yet" state. */
  noneSeen: Uint8Array;
}
export interface ArrayNode extends NodeBase {
  kind: "array";
  prefix: Node[];
  /** Items after the prefix; null: none. */
  items: Node | null;
  minItems: number;
  maxItems: number;
}
export interface StringNode extends NodeBase {
  kind: "string";
  /** In code points, as JSON Schema counts. */
  minLength: number;
  maxLength: number;
}
export interface NumberNode extends NodeBase {
  kind: "number";
  integer: boolean;
  bounds: Bounds | null;
  /** The bounds as the validator applies them (to doubles), for enum values. */
  test: (x: number) => boolean;
}
export interface LitNode extends NodeBase {
  kind: "lit";
  /** Candidates (enum/const, true/false/null) before filtering by `base`. */
  values: unknown[];
  /** The rest of the schema the values must also satisfy; null: none. */
  base: Node | null;
  /** Of the values that survive, their JSON.stringify bytes. */
  trie: Trie;
}
export interface UnionNode extends NodeBase {
  kind: "union";
  alts: Node[];
  /** oneOf (checked for disjoint branches) rather than anyOf / a type array. */
  oneOf: boolean;
  path: string;
}
export interface RefNode extends NodeBase {
  kind: "ref";
  target: Node | null;
}
export type Leaf = ObjectNode | ArrayNode | StringNode | NumberNode | LitNode;
export type Node = Leaf | UnionNode | RefNode;

export function buildTrie(texts: string[]): Trie {
  const root = new Trie();
  texts.forEach((text, i) => {
    let t = root;
    t.under.push(i);
    for (const b of utf8.encode(text)) {
      let n = t.next.get(b);
      if (n === undefined) t.next.set(b, (n = new Trie()));
      t = n;
      t.under.push(i);
    }
    t.end = i;
  });
  return root;
}
/**
 * After compiling: drops enum/const members the rest of their schema rejects, builds their tries,
 * computes minDepth (a fixpoint: recursion through $ref) and each node's leaves.
 */
export function analyseGraph(nodes: Node[]): void {
  const lits = nodes.filter((n): n is LitNode => n.kind === "lit");
  const texts = new Map<LitNode, string[]>();
  for (const n of lits) {
    const seen = new Set<string>();
    const kept: string[] = [];
    for (const v of n.values) {
      const text = JSON.stringify(v);
      if (seen.has(text) || (n.base !== null && !validate(n.base, v, 0))) continue;
      seen.add(text);
      kept.push(text);
    }
    texts.set(n, kept);
  }
  for (const n of lits) n.trie = buildTrie(texts.get(n)!);
  for (let changed = true; changed;) {
    changed = false;
    for (const n of nodes) {
      const d = minDepthOf(n, texts);
      if (d < n.minDepth) {
        n.minDepth = d;
        changed = true;
      }
    }
  }
  for (const n of nodes) n.leaves = leavesOf(n);
}

function minDepthOf(n: Node, texts: Map<LitNode, string[]>): number {
  switch (n.kind) {
    case "lit":
      return texts.get(n)!.length > 0 ? 0 : Infinity;
    case "string":
      return n.minLength <= n.maxLength ? 0 : Infinity;
    case "number":
      return n.bounds === null || canReach(n.bounds, false, "", null, n.integer) ||
          canReach(n.bounds, true, "", null, n.integer)
        ? 0
        : Infinity;
    case "union":
      return Math.min(Infinity, ...n.alts.map((a) => a.minDepth));
    case "ref":
      return n.target!.minDepth;
    case "object":
      return 1 + Math.max(0, ...n.required.map((i) => n.props[i].node.minDepth));
    case "array": {
      if (n.minItems > n.maxItems) return Infinity;
      let d = 0;
      for (let i = 0; i < n.minItems; i++) d = Math.max(d, itemAt(n, i)?.minDepth ?? Infinity);
      return 1 + d;
    }
  }
}

export function itemAt(n: ArrayNode, i: number): Node | null {
  return i < n.prefix.length ? n.prefix[i] : n.items;
}

function leavesOf(n: Node): Leaf[] {
  const out: Leaf[] = [];
  const seen = new Set<Node>();
  const walk = (x: Node) => {
    if (seen.has(x)) return;
    seen.add(x);
    if (x.kind === "union") x.alts.forEach(walk);
    else if (x.kind === "ref") walk(x.target!);
    else if (x.minDepth < Infinity) out.push(x);
  };
  walk(n);
  return out;
}

/** Deep equality of JSON values, key order aside (how validators compare enum members). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameValue(a[k], b[k]));
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Does the JSON value `v` satisfy node `n`? (For enum/const members and the oneOf check.) */
export function validate(n: Node, v: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH + 8) return false;
  switch (n.kind) {
    case "lit":
      return n.values.some((x) => sameValue(x, v)) && (n.base === null || validate(n.base, v, depth));
    case "string":
      return typeof v === "string" && codePoints(v) >= n.minLength && codePoints(v) <= n.maxLength;
    case "number":
      return typeof v === "number" && Number.isFinite(v) && (!n.integer || Number.isInteger(v)) && n.test(v);
    case "union":
      return n.alts.some((a) => validate(a, v, depth));
    case "ref":
      return validate(n.target!, v, depth);
    case "object": {
      if (!isObject(v)) return false;
      for (const [k, x] of Object.entries(v)) {
        const i = n.byName.get(k);
        const sub = i !== undefined ? n.props[i].node : n.additional;
        if (sub === null || !validate(sub, x, depth + 1)) return false;
      }
      return n.required.every((i) => n.props[i].name in v);
    }
    case "array": {
      if (!Array.isArray(v) || v.length < n.minItems || v.length > n.maxItems) return false;
      return v.every((x, i) => {
        const sub = itemAt(n, i);
        return sub !== null && validate(sub, x, depth + 1);
      });
    }
  }
}

/** Kinds of JSON value a leaf can be. */
function kinds(n: Leaf): Set<string> {
  if (n.kind !== "lit") return new Set([n.kind]);
  return new Set(n.values.map((v) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v)));
}

/** Conservative: true only when no value can match both nodes (false when unsure). */
export function disjoint(a: Node, b: Node, depth: number): boolean {
  if (depth > 6) return false;
  return a.leaves.every((x) => b.leaves.every((y) => leavesDisjoint(x, y, depth)));
}

function leavesDisjoint(x: Leaf, y: Leaf, depth: number): boolean {
  const kx = kinds(x);
  if (![...kinds(y)].some((k) => kx.has(k))) return true;
  if (x.kind === "lit") return x.values.every((v) => !validate(x, v, 0) || !validate(y, v, 0));
  if (y.kind === "lit") return leavesDisjoint(y, x, depth);
  if (x.kind === "string" && y.kind === "string") {
    return x.maxLength < y.minLength || y.maxLength < x.minLength;
  }
  if (x.kind === "number" && y.kind === "number") {
    const below = (p: NumberNode, q: NumberNode) => p.bounds?.hi != null && q.bounds?.lo != null && p.bounds.hi < q.bounds.lo;
    return below(x, y) || below(y, x);
  }
  if (x.kind === "array" && y.kind === "array") {
    if (x.maxItems < y.minItems || y.maxItems < x.minItems) return true;
    for (let i = 0; i < Math.min(x.minItems, y.minItems); i++) {
      const p = itemAt(x, i);
      const q = itemAt(y, i);
      if (p === null || q === null || disjoint(p, q, depth + 1)) return true;
    }
    return false;
  }
  if (x.kind === "object" && y.kind === "object") return objectsDisjoint(x, y, depth) || objectsDisjoint(y, x, depth);
  return false;
}

/** A property `x` requires that `y` forbids, or that both require with disjoint schemas. */
function objectsDisjoint(x: ObjectNode, y: ObjectNode, depth: number): boolean {
  return x.required.some((i) => {
    const name = x.props[i].name;
    const j = y.byName.get(name);
    const other = j !== undefined ? y.props[j].node : y.additional;
    if (other === null || other.minDepth === Infinity) return true;
    return j !== undefined && y.required.includes(j) && disjoint(x.props[i].node, other, depth + 1);
  });
}
