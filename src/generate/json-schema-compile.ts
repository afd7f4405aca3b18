// JSON Schema → the node graph the JSON constraint walks (json-schema-graph.ts): which keywords are
// enforced, which are ignored as annotations, and SchemaError for the rest.
//
// Enforced: type (and type arrays), nullable, enum, const, properties, required,
// additionalProperties, items, prefixItems, draft-07 tuple `items` + additionalItems, minItems,
// maxItems, minLength, maxLength, minimum, maximum, exclusiveMinimum, exclusiveMaximum (number or
// draft-04 boolean), anyOf, oneOf (only with branches provably disjoint), allOf of one schema, $ref to
// any JSON pointer inside the document (#, #/$defs/…, #/definitions/…; recursion included), boolean
// schemas. Ignored (annotations): title, description, default, examples, example, $comment, $schema,
// $id, deprecated, readOnly, writeOnly, contentEncoding, contentMediaType, discriminator, x-*, and
// `format` (an annotation by default in 2020-12; the value is a plain string). Everything else is a
// SchemaError naming the keyword and where it is: pattern, patternProperties, propertyNames, multipleOf,
// uniqueItems: true, contains, min/maxProperties, not, if/then/else, dependent*, unevaluated*, …
//
// The output is narrower than the schema on purpose (an emitted document is always valid, not every
// valid document can be emitted): keys and enum/const values only in their JSON.stringify spelling,
// numbers of at most 15 digits (no exponent when bounded), strings capped at `maxStringLength`.

import { type Bounds, gridHi, gridLo } from "./json-number.ts";
import {
  analyseGraph, type ArrayNode, buildTrie, disjoint, type LitNode, MAX_DEPTH, type Node, type NumberNode,
  type ObjectNode, type Prop, type RefNode, sameValue, type StringNode, Trie, type UnionNode,
} from "./json-schema-graph.ts";

export type JsonSchema = Record<string, unknown> | boolean;

/** The schema is invalid or uses what the constraint cannot enforce; the message names keyword and path. */
export class SchemaError extends Error {
  override name = "SchemaError";
  constructor(
    message: string,
    /** JSON pointer of the offending schema ("#/properties/a"). */
    readonly path: string,
  ) {
    super(`${path}: ${message}`);
  }
}

export interface CompileOptions {
  /** Longest string (code points) a schema without maxLength lets the model write. */
  maxStringLength: number;
}

const ANNOTATIONS = new Set([
  "title", "description", "default", "examples", "example", "$comment", "$schema", "$id", "deprecated",
  "readOnly", "writeOnly", "format", "contentEncoding", "contentMediaType", "$defs", "definitions",
  "discriminator",
]);
const OBJECT_KEYWORDS = ["properties", "required", "additionalProperties"];
const ARRAY_KEYWORDS = ["items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems"];
const STRING_KEYWORDS = ["minLength", "maxLength"];
const NUMBER_KEYWORDS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];
const KNOWN = new Set([
  ...OBJECT_KEYWORDS, ...ARRAY_KEYWORDS, ...STRING_KEYWORDS, ...NUMBER_KEYWORDS,
  "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "nullable",
]);
const TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"];

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= 0;
}

function ptr(path: string, ...keys: (string | number)[]): string {
  return path + keys.map((k) => "/" + String(k).replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

/** Compiles a schema (null: any JSON object) into its root node; throws SchemaError. */
export function compileSchema(schema: JsonSchema | null, options: CompileOptions): Node {
  return new Compiler(schema ?? { type: "object" }, options).run();
}

class Compiler {
  private readonly nodes: Node[] = [];
  private readonly refs = new Map<string, RefNode>();
  private readonly unions: UnionNode[] = [];
  private readonly any: UnionNode;
  private readonly never: UnionNode;

  constructor(
    private readonly root: JsonSchema,
    private readonly options: CompileOptions,
  ) {
    this.never = this.add<UnionNode>({ kind: "union", alts: [], oneOf: false, path: "#" });
    this.any = this.add<UnionNode>({ kind: "union", alts: [], oneOf: false, path: "#" });
    this.any.alts.push(
      this.lit([true, false, null], null),
      this.add<StringNode>({ kind: "string", minLength: 0, maxLength: options.maxStringLength }),
      this.number(false, null, () => true),
      this.object([], [], this.any),
      this.add<ArrayNode>({ kind: "array", prefix: [], items: this.any, minItems: 0, maxItems: Infinity }),
    );
  }

  run(): Node {
    const root = this.compile(this.root, "#");
    this.analyse();
    if (root.minDepth > MAX_DEPTH) {
      throw new SchemaError(`the schema admits no value (within ${MAX_DEPTH} levels of nesting)`, "#");
    }
    return root;
  }

  private add<T extends Node>(n: Omit<T, "minDepth" | "leaves">): T {
    const node = { ...n, minDepth: Infinity, leaves: [] } as unknown as T;
    this.nodes.push(node);
    return node;
  }

  private lit(values: unknown[], base: Node | null): LitNode {
    return this.add<LitNode>({ kind: "lit", values, base, trie: new Trie() });
  }

  private number(integer: boolean, bounds: Bounds | null, test: (x: number) => boolean): NumberNode {
    return this.add<NumberNode>({ kind: "number", integer, bounds, test });
  }

  private object(props: Prop[], required: string[], additional: Node | null): ObjectNode {
    for (const name of required) {
      if (!props.some((p) => p.name === name)) props.push({ name, node: additional ?? this.never });
    }
    const byName = new Map(props.map((p, i) => [p.name, i]));
    return this.add<ObjectNode>({
      kind: "object",
      props,
      byName,
      required: required.map((name) => byName.get(name)!),
      additional,
      keys: buildTrie(props.map((p) => JSON.stringify(p.name))),
      noneSeen: new Uint8Array(props.length),
    });
  }

  private compile(s: unknown, path: string): Node {
    if (s === true) return this.any;
    if (s === false) return this.never;
    if (!isObject(s)) throw new SchemaError("a schema must be an object or a boolean", path);
    const assertions: string[] = [];
    for (const key of Object.keys(s)) {
      if (ANNOTATIONS.has(key) || key.startsWith("x-")) continue;
      if (!KNOWN.has(key) || (key === "uniqueItems" && s[key] !== false)) {
        throw new SchemaError(`unsupported keyword "${key}"`, path);
      }
      if (key !== "uniqueItems") assertions.push(key);
    }
    const alone = (key: string, allowed: string[] = []) => {
      const other = assertions.find((k) => k !== key && !allowed.includes(k));
      if (other !== undefined) {
        throw new SchemaError(`"${key}" combined with "${other}" is not supported`, path);
      }
    };
    // $ref and allOf stand alone: validators differ on whether siblings apply (draft 7 and OpenAPI
    // 3.0 ignore them, 2019+ intersect), so a schema relying on either reading is refused.
    if ("$ref" in s) {
      alone("$ref");
      return this.ref(s.$ref, path);
    }
    if ("allOf" in s) {
      alone("allOf");
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1) {
        throw new SchemaError(`unsupported keyword "allOf" with other than one schema`, path);
      }
      return this.compile(s.allOf[0], ptr(path, "allOf", 0));
    }
    const nullable = s.nullable === true;
    if (s.nullable !== undefined && typeof s.nullable !== "boolean") {
      throw new SchemaError(`"nullable" must be a boolean`, path);
    }
    for (const key of ["anyOf", "oneOf"]) {
      if (!(key in s)) continue;
      alone(key, ["nullable"]);
      const list = s[key];
      if (!Array.isArray(list) || list.length === 0) {
        throw new SchemaError(`"${key}" must be a non-empty array`, path);
      }
      const alts = list.map((x, i) => this.compile(x, ptr(path, key, i)));
      if (nullable) alts.push(this.lit([null], null));
      const u = this.add<UnionNode>({ kind: "union", alts, oneOf: key === "oneOf", path });
      if (key === "oneOf") this.unions.push(u);
      return u;
    }
    const alts = this.types(s, path).map((type) => this.typed(type, s, path));
    if (nullable && !alts.some((n) => n.kind === "lit" && n.values.includes(null))) alts.push(this.lit([null], null));
    const base = alts.length === 1 ? alts[0] : this.add<UnionNode>({ kind: "union", alts, oneOf: false, path });
    if (!("enum" in s) && !("const" in s)) return base;
    if ("enum" in s && !Array.isArray(s.enum)) throw new SchemaError(`"enum" must be an array`, path);
    const values = "const" in s ? [s.const] : (s.enum as unknown[]);
    if ("const" in s && "enum" in s) {
      return this.lit(values.filter((v) => (s.enum as unknown[]).some((e) => sameValue(e, v))), base);
    }
    return this.lit(values, base);
  }

  /** The types a value may have: `type`, else those whose keywords appear, else all. */
  private types(s: Record<string, unknown>, path: string): string[] {
    let types: string[];
    if ("type" in s) {
      const t = s.type;
      types = typeof t === "string" ? [t] : Array.isArray(t) ? (t as string[]) : [];
      if (types.length === 0 || types.some((x) => !TYPES.includes(x))) {
        throw new SchemaError(`"type" must be one of ${TYPES.join(", ")} or a non-empty array of them`, path);
      }
    } else {
      // Without `type`, object keywords constrain only objects (and so on); emitting only the kinds
      // the keywords talk about is narrower than the schema, never wider.
      const has = (keys: string[]) => keys.some((k) => k in s);
      types = [
        ...(has(OBJECT_KEYWORDS) ? ["object"] : []),
        ...(has(ARRAY_KEYWORDS.filter((k) => k !== "uniqueItems")) ? ["array"] : []),
        ...(has(STRING_KEYWORDS) ? ["string"] : []),
        ...(has(NUMBER_KEYWORDS) ? ["number"] : []),
      ];
      if (types.length === 0) types = TYPES.filter((x) => x !== "integer");
    }
    types = [...new Set(types)];
    return types.includes("number") ? types.filter((x) => x !== "integer") : types;
  }

  private typed(type: string, s: Record<string, unknown>, path: string): Node {
    switch (type) {
      case "null":
        return this.lit([null], null);
      case "boolean":
        return this.lit([true, false], null);
      case "string": {
        const min = this.count(s, "minLength", 0, path);
        const max = this.count(s, "maxLength", Infinity, path);
        const cap = Math.max(this.options.maxStringLength, min);
        return this.add<StringNode>({ kind: "string", minLength: min, maxLength: Math.min(max, cap) });
      }
      case "number":
      case "integer":
        return this.numberFrom(type === "integer", s, path);
      case "object":
        return this.objectFrom(s, path);
      default:
        return this.arrayFrom(s, path);
    }
  }

  private count(s: Record<string, unknown>, key: string, fallback: number, path: string): number {
    const v = s[key];
    if (v === undefined) return fallback;
    if (!isCount(v)) throw new SchemaError(`"${key}" must be a non-negative integer`, path);
    return v;
  }

  private numberFrom(integer: boolean, s: Record<string, unknown>, path: string): NumberNode {
    const num = (key: string): number | null => {
      const v = s[key];
      if (v === undefined || typeof v === "boolean") return null;
      if (typeof v !== "number" || !Number.isFinite(v)) throw new SchemaError(`"${key}" must be a number`, path);
      return v;
    };
    const min = num("minimum");
    const max = num("maximum");
    // Draft 4 spelled exclusivity as a boolean next to minimum/maximum.
    const exMin = s.exclusiveMinimum === true ? min : num("exclusiveMinimum");
    const exMax = s.exclusiveMaximum === true ? max : num("exclusiveMaximum");
    const draft4Min = s.exclusiveMinimum === true;
    const draft4Max = s.exclusiveMaximum === true;
    const los = [
      ...(min !== null && !draft4Min ? [gridLo(min, false)] : []),
      ...(exMin !== null ? [gridLo(exMin, true)] : []),
    ];
    const his = [
      ...(max !== null && !draft4Max ? [gridHi(max, false)] : []),
      ...(exMax !== null ? [gridHi(exMax, true)] : []),
    ];
    const bounds: Bounds | null = los.length + his.length === 0 ? null : {
      lo: los.length === 0 ? null : los.reduce((a, b) => (a > b ? a : b)),
      hi: his.length === 0 ? null : his.reduce((a, b) => (a < b ? a : b)),
    };
    const test = (x: number) =>
      (min === null || draft4Min || x >= min) && (exMin === null || x > exMin) &&
      (max === null || draft4Max || x <= max) && (exMax === null || x < exMax);
    return this.number(integer, bounds, test);
  }

  private objectFrom(s: Record<string, unknown>, path: string): ObjectNode {
    const props: Prop[] = [];
    if (s.properties !== undefined) {
      if (!isObject(s.properties)) throw new SchemaError(`"properties" must be an object`, path);
      for (const [name, sub] of Object.entries(s.properties)) {
        props.push({ name, node: this.compile(sub, ptr(path, "properties", name)) });
      }
    }
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) {
      throw new SchemaError(`"required" must be an array of strings`, path);
    }
    const ap = s.additionalProperties;
    const additional = ap === undefined || ap === true
      ? this.any
      : ap === false
      ? null
      : this.compile(ap, ptr(path, "additionalProperties"));
    return this.object(props, [...new Set(required as string[])], additional);
  }

  private arrayFrom(s: Record<string, unknown>, path: string): ArrayNode {
    const list = (key: string): Node[] => {
      const v = s[key];
      if (!Array.isArray(v)) throw new SchemaError(`"${key}" must be an array of schemas`, path);
      return v.map((x, i) => this.compile(x, ptr(path, key, i)));
    };
    const optional = (key: string): Node | null => {
      const v = s[key];
      return v === undefined ? this.any : v === false ? null : this.compile(v, ptr(path, key));
    };
    let prefix: Node[] = [];
    let items: Node | null;
    if (Array.isArray(s.items)) {
      // Draft 7 tuples: `items` is the prefix, `additionalItems` the rest.
      prefix = list("items");
      items = optional("additionalItems");
    } else {
      if (s.prefixItems !== undefined) prefix = list("prefixItems");
      items = optional("items");
    }
    return this.add<ArrayNode>({
      kind: "array",
      prefix,
      items,
      minItems: this.count(s, "minItems", 0, path),
      maxItems: this.count(s, "maxItems", Infinity, path),
    });
  }

  private ref(target: unknown, path: string): Node {
    if (typeof target !== "string" || !target.startsWith("#")) {
      throw new SchemaError(`unsupported keyword "$ref" to ${JSON.stringify(target)} (only "#…" pointers into this schema)`, path);
    }
    const cached = this.refs.get(target);
    if (cached !== undefined) return cached;
    const node = this.add<RefNode>({ kind: "ref", target: null });
    this.refs.set(target, node);
    let at: unknown = this.root;
    if (target !== "#") {
      if (!target.startsWith("#/")) throw new SchemaError(`"$ref" ${target} is not a JSON pointer`, path);
      for (const raw of target.slice(2).split("/")) {
        const key = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
        at = isObject(at) || Array.isArray(at) ? (at as Record<string, unknown>)[key] : undefined;
        if (at === undefined) throw new SchemaError(`"$ref" ${target} points at nothing`, path);
      }
    }
    node.target = this.compile(at, target);
    return node;
  }
  /** Graph analyses, then the oneOf branches must be provably disjoint (else exactly-one could fail). */
  private analyse(): void {
    analyseGraph(this.nodes);
    for (const u of this.unions) {
      for (let i = 0; i < u.alts.length; i++) {
        for (let j = i + 1; j < u.alts.length; j++) {
          if (!disjoint(u.alts[i], u.alts[j], 0)) {
            throw new SchemaError(`"oneOf" branches ${i} and ${j} may both match one value (use "anyOf")`, u.path);
          }
        }
      }
    }
  }
}
