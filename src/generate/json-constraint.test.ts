// JSON constraint tests: a seeded random "model" writes through firstAllowed for many schemas and
// seeds, and every document must parse and pass an independent validator (ajv) with no dead end;
// the same walk unconstrained must fail it. Then exact texts, rejected schemas, firstAllowed.

import { describe, expect, test } from "bun:test";
import Ajv from "ajv";
import Ajv2020 from "ajv/dist/2020";
import { makeVocab, schemaWords, walk } from "../../test/support/random-json-model.ts";
import { firstAllowed, type JsonSchema, jsonConstraint, SchemaError } from "./json-constraint.ts";

const enc = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });
const ajv2020 = new Ajv2020({ strict: false });
const ajv07 = new Ajv({ strict: false });

const person = {
  type: "object",
  properties: {
    name: { type: "string", minLength: 1, maxLength: 20 },
    age: { type: "integer", minimum: 0, maximum: 150 },
    height: { type: "number", exclusiveMinimum: 0, maximum: 3 },
    email: { type: "string", format: "email", description: "ignored format" },
    role: { enum: ["admin", "user", "guest"] },
    tags: { type: "array", items: { type: "string", maxLength: 5 }, maxItems: 3 },
    address: {
      type: "object",
      properties: { city: { type: "string" }, zip: { type: ["string", "null"] } },
      required: ["city"],
      additionalProperties: false,
    },
  },
  required: ["name", "age", "role"],
  additionalProperties: false,
};

const tree = {
  $defs: {
    node: {
      type: "object",
      properties: {
        value: { type: "integer", minimum: -5, maximum: 5 },
        children: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 },
      },
      required: ["value"],
      additionalProperties: false,
    },
  },
  $ref: "#/$defs/node",
};

/** [name, schema, draft-07?] walked with many seeds. */
const SCHEMAS: [string, JsonSchema | null, boolean?][] = [
  ["json_object (null)", null],
  ["empty schema (any value)", {}],
  ["person: nested, required/optional, bounds, enum", person],
  ["bounded string", { type: "string", minLength: 2, maxLength: 6 }],
  ["exact length 3 (escapes, surrogate pairs count once)", { type: "string", minLength: 3, maxLength: 3 }],
  ["tuple: prefixItems + items false", {
    type: "array",
    prefixItems: [{ type: "integer" }, { type: "boolean" }, { type: "string" }],
    items: false,
    minItems: 2,
  }],
  ["array of arrays of objects", {
    type: "array",
    minItems: 1,
    maxItems: 3,
    items: { type: "array", items: { type: "object", properties: { x: { type: "number" } }, required: ["x"] } },
  }],
  ["anyOf of overlapping objects", {
    anyOf: [
      { type: "object", properties: { a: { type: "integer" }, b: { type: "string" } }, required: ["a"], additionalProperties: false },
      { type: "object", properties: { a: { type: "string" }, c: { type: "null" } }, required: ["c"], additionalProperties: false },
    ],
  }],
  ["anyOf scalar mix + type array", {
    type: "object",
    properties: { v: { anyOf: [{ type: "string" }, { type: "integer" }, { type: "null" }] }, w: { type: ["number", "boolean"] } },
    required: ["v", "w"],
  }],
  ["$ref non-recursive", {
    $defs: { point: { type: "object", properties: { x: { type: "number" }, y: { type: "number" } }, required: ["x", "y"], additionalProperties: false } },
    type: "object",
    properties: { from: { $ref: "#/$defs/point" }, to: { $ref: "#/$defs/point" } },
    required: ["from", "to"],
    additionalProperties: false,
  }],
  ["$ref recursive tree", tree],
  ["draft-07: definitions + tuple items + additionalItems", {
    definitions: { flag: { type: "boolean" } },
    type: "array",
    items: [{ $ref: "#/definitions/flag" }, { type: "integer", minimum: 10, exclusiveMaximum: 20 }],
    additionalItems: false,
  }, true],
  ["enum of mixed values, const object", {
    type: "object",
    properties: { e: { enum: [1, "a", null, { x: [1, 2] }, true, 2.5, "é😀"] }, k: { const: { kind: "fixed", n: [0] } } },
    required: ["e", "k"],
    additionalProperties: false,
  }],
  ["oneOf discriminated", {
    oneOf: [
      { type: "object", properties: { kind: { const: "circle" }, r: { type: "number", minimum: 0 } }, required: ["kind", "r"], additionalProperties: false },
      { type: "object", properties: { kind: { const: "square" }, side: { type: "integer", minimum: 1 } }, required: ["kind", "side"], additionalProperties: false },
    ],
  }],
  ["additionalProperties schema + declared", {
    type: "object",
    properties: { id: { type: "integer" } },
    additionalProperties: { type: "number", minimum: -1, maximum: 1 },
    required: ["id"],
  }],
  ["numbers with fractional and exclusive bounds", {
    type: "array",
    minItems: 3,
    prefixItems: [
      { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
      { type: "integer", minimum: -5, maximum: 5 },
      { type: "number", minimum: 1.5, exclusiveMaximum: 1000 },
      { type: "number", minimum: -0.25, maximum: -0.125 },
    ],
    items: false,
  }],
  ["narrow and far-off numeric ranges", {
    type: "array",
    minItems: 4,
    prefixItems: [
      { type: "number", minimum: 123.456, maximum: 123.457 },
      { type: "number", exclusiveMinimum: -1e-10, exclusiveMaximum: 1e-10 },
      { type: "integer", minimum: 1e14, maximum: 100000000000005 },
      { type: "number", minimum: -7, exclusiveMaximum: -6.99 },
      { type: "integer", exclusiveMinimum: -1, exclusiveMaximum: 1 },
    ],
    items: false,
  }],
  ["unicode and escaped property names", {
    type: "object",
    properties: { "é": { type: "string" }, 'a"b': { type: "integer" }, "line\nbreak": { type: "boolean" }, "日本": { enum: ["日本", "😀"] } },
    required: ["é", 'a"b', "line\nbreak", "日本"],
    additionalProperties: false,
  }],
  ["nullable (OpenAPI)", { type: "object", properties: { s: { type: "string", nullable: true } }, required: ["s"] }],
  ["boolean subschemas", { type: "object", properties: { a: false, b: true }, required: ["b"] }],
  ["required but undeclared, typed by additionalProperties", { required: ["x", "y"], additionalProperties: { type: "boolean" } }],
  ["allOf of one + annotations", { allOf: [{ type: "integer", minimum: 3 }], title: "t", default: 4 }],
];

// JSON_WALK_SEEDS=500 for a longer hunt; the default keeps the suite fast.
const SEEDS = Number(process.env.JSON_WALK_SEEDS ?? 24);

describe("random model through firstAllowed", () => {
  for (const [name, schema, draft07] of SCHEMAS) {
    test(name, () => {
      const c = jsonConstraint(schema);
      const v = makeVocab(schemaWords(schema));
      const validate = (draft07 ? ajv07 : ajv2020).compile(schema ?? { type: "object" });
      let done = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        const r = walk(c, v, seed * 7919);
        if (r.deadEnd) throw new Error(`seed ${seed}: no token allowed after ${JSON.stringify(new TextDecoder().decode(r.bytes))}`);
        if (!r.finished) continue;
        done++;
        const text = strict.decode(r.bytes);
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          throw new Error(`seed ${seed}: not JSON: ${text}`);
        }
        if (!validate(value)) throw new Error(`seed ${seed}: ${text}\n${JSON.stringify(validate.errors)}`);
      }
      // Most walks must finish, or the test would pass on a constraint that never lets one end.
      expect(done).toBeGreaterThanOrEqual(SEEDS * 0.75);
    });
  }

  test("the same walk without the constraint fails the validator (the check can fail)", () => {
    let valid = 0;
    let total = 0;
    for (const [, schema, draft07] of SCHEMAS) {
      const v = makeVocab(schemaWords(schema));
      const validate = (draft07 ? ajv07 : ajv2020).compile(schema ?? { type: "object" });
      for (let seed = 1; seed <= 5; seed++) {
        total++;
        const r = walk(null, v, seed * 7919);
        try {
          if (r.finished && validate(JSON.parse(new TextDecoder().decode(r.bytes)))) valid++;
        } catch {
          // not JSON
        }
      }
    }
    expect(valid).toBeLessThan(total * 0.05);
  });
});

/** Feeds `text` one token per element (strings are split into the given pieces). */
function feed(schema: JsonSchema | null, pieces: string[] | string) {
  const c = jsonConstraint(schema);
  let s = c.start();
  const list = typeof pieces === "string" ? [...enc.encode(pieces)].map((b) => Uint8Array.of(b)) : pieces.map((p) => enc.encode(p));
  for (const bytes of list) {
    const next = c.advance(s, bytes);
    if (next === null) return { ok: false, canEnd: false, mustEnd: false };
    s = next;
  }
  return { ok: true, canEnd: c.canEnd(s), mustEnd: c.mustEnd(s) };
}

const accepts = (schema: JsonSchema | null, text: string) => {
  const r = feed(schema, text);
  return r.ok && r.canEnd;
};

describe("exact texts", () => {
  test("whitespace: compact, one space, newline + indent ≤ 20; nothing more", () => {
    expect(accepts(person, '{"name":"A","age":1,"role":"user"}')).toBe(true);
    expect(accepts(person, '{\n  "name": "A",\n  "age": 1,\n  "role": "user"\n}')).toBe(true);
    expect(accepts(person, '{  "name": "A", "age": 1, "role": "user"}')).toBe(false);
    expect(accepts(person, `{\n${" ".repeat(21)}"name": "A", "age": 1, "role": "user"}`)).toBe(false);
    expect(accepts(person, '{"name": "A",\n\n"age": 1, "role": "user"}')).toBe(false);
    expect(accepts(person, ' {"name":"A","age":1,"role":"user"}\n')).toBe(true);
  });

  test("properties in any order, each once, required before the close", () => {
    expect(accepts(person, '{"role":"guest","age":3,"name":"B"}')).toBe(true);
    expect(feed(person, '{"name":"A","name"').ok).toBe(false);
    expect(feed(person, '{"name":"A","age":1}').ok).toBe(false);
    expect(feed(person, '{"nick"').ok).toBe(false);
    expect(feed(null, '{"a":1,"a"').ok).toBe(false);
    expect(accepts(null, '{"a":1,"a\\u0062":2}')).toBe(true);
    expect(feed(null, '{"a":1,"\\u0061"').ok).toBe(false);
  });

  test("numbers: JSON grammar, integer vs number, bounds, digit caps", () => {
    expect(accepts({ type: "integer" }, "-0")).toBe(true);
    expect(feed({ type: "integer" }, "1.0").ok).toBe(false);
    expect(feed({ type: "integer" }, "01").ok).toBe(false);
    expect(accepts({ type: "number" }, "-12.5e+07")).toBe(true);
    expect(feed({ type: "number" }, "1e123").ok).toBe(false);
    expect(accepts({ type: "number" }, "123456789012345")).toBe(true);
    expect(feed({ type: "number" }, "1234567890123456").ok).toBe(false);
    const unit = { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 };
    expect(feed(unit, "1").ok).toBe(false);
    expect(feed(unit, "0").canEnd).toBe(false);
    expect(accepts(unit, "0.00000000000001")).toBe(true);
    expect(feed(unit, "0.0000000000000").ok).toBe(true);
    expect(feed(unit, "0.00000000000000").ok).toBe(false);
    expect(feed(unit, "-").ok).toBe(false);
    expect(feed({ type: "integer", minimum: 10, maximum: 19 }, "2").ok).toBe(false);
    expect(feed({ type: "integer", minimum: 10, maximum: 19 }, "1").canEnd).toBe(false);
    expect(accepts({ type: "integer", minimum: 10, maximum: 19 }, "19")).toBe(true);
    expect(feed({ type: "integer", maximum: -3 }, "-2").canEnd).toBe(false);
    expect(feed({ type: "integer", maximum: -3 }, "-2").ok).toBe(true); // -20
    expect(feed({ type: "number", minimum: 5 }, "1e").ok).toBe(false);
  });

  test("strings: escapes, surrogate pairs, UTF-8 split across tokens, lengths in code points", () => {
    const three = { type: "string", minLength: 3, maxLength: 3 };
    expect(accepts(three, '"a\\nb"')).toBe(true);
    expect(accepts(three, '"😀é日"')).toBe(true);
    expect(accepts(three, '"\\ud83d\\ude00ab"')).toBe(true);
    expect(feed(three, '"\\ud83d"').ok).toBe(false);
    expect(feed(three, '"\\ude00').ok).toBe(false);
    expect(feed(three, '"abcd').ok).toBe(false);
    expect(feed(three, '"ab"').ok).toBe(false);
    expect(feed(three, '"\\x').ok).toBe(false);
    expect(feed({ type: "string" }, '"a\nb"').ok).toBe(false);
    const emoji = enc.encode('"😀"');
    for (let cut = 1; cut < emoji.length; cut++) {
      const c = jsonConstraint({ type: "string" });
      const s = c.advance(c.start(), emoji.subarray(0, cut));
      expect(s).not.toBeNull();
      expect(c.canEnd(c.advance(s!, emoji.subarray(cut))!)).toBe(true);
    }
    const c = jsonConstraint({ type: "string" });
    for (const bad of [[0x22, 0xc0, 0x80], [0x22, 0xed, 0xa0], [0x22, 0xf4, 0x90], [0x22, 0x80], [0x22, 0xe2, 0x22]]) {
      expect(c.advance(c.start(), Uint8Array.from(bad))).toBeNull();
    }
  });

  test("a string without maxLength is capped (option)", () => {
    const c = jsonConstraint({ type: "string" }, { maxStringLength: 4 });
    expect(c.advance(c.start(), enc.encode('"abcd"'))).not.toBeNull();
    expect(c.advance(c.start(), enc.encode('"abcde'))).toBeNull();
  });

  test("enum/const in their JSON.stringify spelling; enum members filtered by the rest of the schema", () => {
    const e = { type: "string", enum: ["a", "b", 1] };
    expect(accepts(e, '"b"')).toBe(true);
    expect(feed(e, "1").ok).toBe(false);
    expect(accepts({ const: { a: [1, null] } }, '{"a":[1,null]}')).toBe(true);
    expect(feed({ const: { a: [1, null] } }, '{"a": [').ok).toBe(false);
  });

  test("canEnd / mustEnd", () => {
    expect(feed(person, '{"name":"A","age":1,"role":"user"}').mustEnd).toBe(true);
    expect(feed({ type: "integer" }, "12")).toEqual({ ok: true, canEnd: true, mustEnd: false });
    expect(feed({ type: "integer", maximum: 99 }, "12")).toEqual({ ok: true, canEnd: true, mustEnd: true });
    expect(feed({ enum: [1, 10] }, "1")).toEqual({ ok: true, canEnd: true, mustEnd: false });
    expect(feed({ type: "string" }, '"x')).toEqual({ ok: true, canEnd: false, mustEnd: false });
  });

  test("nesting is capped at 32 containers; recursive schemas stay live at the cap", () => {
    expect(accepts({}, "[".repeat(32) + "]".repeat(32))).toBe(true);
    expect(feed({}, "[".repeat(33)).ok).toBe(false);
    const deep = "[".repeat(31) + "{";
    expect(feed(tree, '{"children":[{"children":[').ok).toBe(true);
    expect(feed({}, deep + '"a":[').ok).toBe(false);
    expect(feed({}, deep + '"a":1}').ok).toBe(true);
  });

  test("states are immutable: an old state can be advanced again", () => {
    const c = jsonConstraint(person);
    const s = c.advance(c.start(), enc.encode('{"'))!;
    const a = c.advance(s, enc.encode('name"'));
    const b = c.advance(s, enc.encode('age"'));
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(c.advance(a!, enc.encode(':"x"'))).not.toBeNull();
    expect(c.advance(b!, enc.encode(':"x"'))).toBeNull();
    expect(c.advance(b!, enc.encode(":7"))).not.toBeNull();
  });
});

describe("firstAllowed", () => {
  const tokens = ["x", "", "{", "}", '{"name":"A","age":1,"role":"user"}'].map((t) => enc.encode(t));
  const EOS = 9;
  const pick = (s: ReturnType<ReturnType<typeof jsonConstraint>["start"]>, order: number[]) =>
    firstAllowed(c, s, order, (t) => tokens[t], (t) => t === EOS);
  const c = jsonConstraint(person);

  test("skips invalid and empty tokens, takes the first valid in the order given", () => {
    const r = pick(c.start(), [0, 1, EOS, 3, 2, 4]);
    expect(r?.token).toBe(2);
    expect(r?.state).not.toBeNull();
    expect(pick(c.start(), [0, 1, EOS])).toBeNull();
  });

  test("EOG only where the document can end", () => {
    const done = c.advance(c.start(), tokens[4])!;
    expect(pick(done, [0, EOS])).toEqual({ token: EOS, state: null });
  });
});

describe("schemas the constraint refuses", () => {
  const cases: [JsonSchema, string][] = [
    [{ type: "string", pattern: "^a" }, '"pattern"'],
    [{ type: "object", patternProperties: { a: {} } }, '"patternProperties"'],
    [{ type: "number", multipleOf: 2 }, '"multipleOf"'],
    [{ type: "array", uniqueItems: true }, '"uniqueItems"'],
    [{ not: { type: "string" } }, '"not"'],
    [{ if: { type: "string" }, then: {} }, '"if"'],
    [{ type: "object", minProperties: 1 }, '"minProperties"'],
    [{ type: "object", properties: { a: { type: "string", frobnicate: 1 } } }, '"frobnicate"'],
    [{ allOf: [{ type: "string" }, { maxLength: 3 }] }, '"allOf"'],
    [{ $ref: "https://example.com/s.json" }, '"$ref"'],
    [{ $ref: "#/$defs/missing" }, "#/$defs/missing"],
    [{ $defs: { a: { type: "string" } }, $ref: "#/$defs/a", maxLength: 3 }, '"$ref" combined with "maxLength"'],
    [{ anyOf: [{ type: "string" }], minLength: 2 }, '"anyOf" combined with "minLength"'],
    [{ oneOf: [{ type: "number" }, { type: "integer" }] }, '"oneOf" branches 0 and 1'],
    [{ type: "strin" }, '"type"'],
    [{ anyOf: [] }, '"anyOf"'],
    [{ type: "string", minLength: 5, maxLength: 2 }, "admits no value"],
    [{ enum: [] }, "admits no value"],
    [{ type: "object", required: ["a"], additionalProperties: false }, "admits no value"],
    [{ $defs: { n: { type: "object", properties: { n: { $ref: "#/$defs/n" } }, required: ["n"] } }, $ref: "#/$defs/n" }, "admits no value"],
    [{ type: "integer", minimum: 0.2, maximum: 0.8 }, "admits no value"],
  ];
  for (const [schema, needle] of cases) {
    test(needle, () => {
      let err: unknown = null;
      try {
        jsonConstraint(schema);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SchemaError);
      expect((err as Error).message).toContain(needle);
    });
  }

  test("the error names where: a nested keyword's JSON pointer", () => {
    expect(() => jsonConstraint({ type: "object", properties: { "a/b": { items: { pattern: "x" } } } })).toThrow(
      '#/properties/a~1b/items: unsupported keyword "pattern"',
    );
  });
});
