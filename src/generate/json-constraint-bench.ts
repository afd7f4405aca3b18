// JSON constraint benchmark: µs per `advance` of one token at states met while writing documents
// (every token of a synthetic vocabulary tried at each state, as a sampler masking would), for a
// few schemas. Prints a table, then JSON.
//   bun src/generate/json-constraint-bench.ts

import { makeVocab, schemaWords, walk } from "../../test/support/random-json-model.ts";
import { type ConstraintState, type JsonSchema, jsonConstraint } from "./json-constraint.ts";

const SCHEMAS: Record<string, JsonSchema | null> = {
  "json_object": null,
  "person": {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 40 },
      age: { type: "integer", minimum: 0, maximum: 150 },
      tags: { type: "array", items: { type: "string" }, maxItems: 4 },
      address: { type: "object", properties: { city: { type: "string" }, zip: { type: ["string", "null"] } }, required: ["city"] },
    },
    required: ["name", "age"],
    additionalProperties: false,
  },
  "anyOf of objects": {
    anyOf: [
      { type: "object", properties: { a: { type: "integer" }, b: { type: "string" } }, required: ["a"] },
      { type: "object", properties: { a: { type: "string" }, c: { type: "number" } }, required: ["c"] },
    ],
  },
};

const rows: Record<string, unknown>[] = [];
for (const [name, schema] of Object.entries(SCHEMAS)) {
  const c = jsonConstraint(schema);
  const v = makeVocab(schemaWords(schema));
  // States along 30 walked documents.
  const states: ConstraintState[] = [];
  for (let seed = 1; seed <= 30; seed++) {
    const { bytes } = walk(c, v, seed);
    let s: ConstraintState | null = c.start();
    for (let i = 0; i < bytes.length && s !== null; i++) {
      states.push(s);
      s = c.advance(s, bytes.subarray(i, i + 1));
    }
  }
  let tries = 0;
  let accepted = 0;
  let bytesFed = 0;
  const t0 = performance.now();
  for (const s of states) {
    for (const t of v.tokens) {
      tries++;
      bytesFed += t.length;
      if (c.advance(s, t) !== null) accepted++;
    }
  }
  const all = (performance.now() - t0) * 1000;
  // Accepted tokens alone: the cost of a token that is taken.
  const ok: [ConstraintState, Uint8Array][] = [];
  for (const s of states) for (const t of v.tokens) if (t.length > 1 && c.advance(s, t) !== null) ok.push([s, t]);
  let okBytes = 0;
  const t1 = performance.now();
  for (const [s, t] of ok) {
    c.advance(s, t);
    okBytes += t.length;
  }
  const okUs = (performance.now() - t1) * 1000;
  rows.push({
    schema: name,
    states: states.length,
    tries,
    usPerTry: +(all / tries).toFixed(3),
    acceptedShare: +(accepted / tries).toFixed(3),
    usPerAcceptedMultiByteToken: +(okUs / Math.max(1, ok.length)).toFixed(3),
    bytesPerAcceptedToken: +(okBytes / Math.max(1, ok.length)).toFixed(2),
    usPerByteFed: +(all / bytesFed).toFixed(3),
  });
}
console.table(rows);
console.log(JSON.stringify(rows));
