// A random "model" for constrained-decoding tests: a synthetic vocabulary (every single byte, JSON
// fragments, words, UTF-8 characters whole and split) and a seeded walk that picks tokens through
// firstAllowed, or without any constraint to show the checks can fail.

import { type Constraint, firstAllowed } from "../../src/generate/json-constraint.ts";
import { Rng } from "../../src/generate/rng.ts";

const enc = new TextEncoder();

const FRAGMENTS = [
  "{", "}", "[", "]", "{\"", "\"}", "\":", "\": ", "\", \"", ",\"", ", \"", "},", "}]", "[{", "[\"", "\"]", ":",
  ",", "\"", "true", "false", "null", "nu", "ll", "tr", "ue", "fal", "se", "-", "0", "1", "2", "3", "4", "5",
  "7", "9", "12", "345", "-1", ".5", "0.", "e+", "E-3", "1.0", "100", "42", "name", "age", "id", "tags", "a",
  "b", "x", "hello", " world", "Hello", "value", "children", "\\n", "\\\"", "\\\\", "\\u00e9", "\\ud83d",
  "\\ude00", "\\u", "00", "e9", "é", "日本", "😀", " ", "\n", "\n  ", "  ", "\t",
  "\n\n", "   ",
];

/** The UTF-8 bytes of 😀 split 2+2 and 1+3, as byte-level BPE vocabularies hold such pieces. */
const SPLITS: Uint8Array[] = (() => {
  const b = enc.encode("😀");
  return [b.subarray(0, 2), b.subarray(2), b.subarray(0, 1), b.subarray(1)];
})();

export interface Vocab {
  tokens: Uint8Array[];
  /** Token ids of fragments (not single bytes): what the model "prefers". */
  fragments: number[];
  /** Ids the walk tries first once it should finish. */
  closers: number[];
  eos: number;
}

/** Every single byte, the fragments above, `extra` (names and values of the schema at hand), an EOS. */
export function makeVocab(extra: string[] = []): Vocab {
  const tokens: Uint8Array[] = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  const fragments: number[] = [];
  const seen = new Set<string>();
  for (const bytes of [...[...FRAGMENTS, ...extra].map((s) => enc.encode(s)), ...SPLITS]) {
    const key = bytes.join(",");
    if (bytes.length < 2 || seen.has(key)) continue;
    seen.add(key);
    fragments.push(tokens.length);
    tokens.push(bytes);
  }
  const eos = tokens.length;
  tokens.push(new Uint8Array(0));
  // Closing order: end, write a schema key (a missing required one), close a string, close
  // containers, then what moves a key or a number along.
  const byte = (c: string) => c.charCodeAt(0);
  const quoted = extra.filter((w) => w.startsWith('"')).map((w) => fragments.find((t) => tokens[t].join(",") === enc.encode(w).join(",")));
  const closers = [eos, ...quoted.filter((t) => t !== undefined), byte('"'), byte("}"), byte("]"), byte(":"), byte("0"), byte(",")];
  return { tokens, fragments, closers, eos };
}

/** Property names, enum/const strings and numbers in a schema, as tokens (`"name"`, `name`). */
export function schemaWords(schema: unknown): string[] {
  const out: string[] = [];
  const walk = (x: unknown) => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (typeof x === "object" && x !== null) {
      for (const [k, v] of Object.entries(x)) {
        if (k === "properties" && typeof v === "object" && v !== null) {
          for (const name of Object.keys(v)) out.push(JSON.stringify(name), name);
        }
        if (k === "required" && Array.isArray(v)) for (const name of v) out.push(JSON.stringify(name));
        if ((k === "enum" || k === "const") && v !== undefined) {
          for (const e of k === "enum" ? (v as unknown[]) : [v]) out.push(JSON.stringify(e));
        }
        walk(v);
      }
    }
  };
  walk(schema);
  return out;
}

/**
 * Candidate order for one step: a few draws (mostly fragments), after `soft` steps the closers
 * first, then every token once in random order, so a constraint that allows any byte is always met.
 */
function* candidates(v: Vocab, rng: Rng, closing: boolean): Generator<number> {
  if (closing) yield* v.closers;
  for (let i = 0; i < 6; i++) {
    yield rng.nextFloat() < 0.7 ? v.fragments[rng.nextU32() % v.fragments.length] : rng.nextU32() % v.tokens.length;
  }
  const order = Array.from({ length: v.tokens.length }, (_, i) => i);
  for (let i = 0; i < order.length; i++) {
    const j = i + (rng.nextU32() % (order.length - i));
    [order[i], order[j]] = [order[j], order[i]];
    yield order[i];
  }
}

export interface WalkResult {
  /** What was written. */
  bytes: Uint8Array;
  /** The walk ended (EOS, or the constraint's mustEnd) before `hard` tokens. */
  finished: boolean;
  /** firstAllowed found no token at all (a state with no live continuation: a constraint bug). */
  deadEnd: boolean;
  steps: number;
}

/** One generation of at most `hard` tokens; `c` null: unconstrained (takes the first candidate). */
export function walk(c: Constraint | null, v: Vocab, seed: number, soft = 40, hard = 400): WalkResult {
  const rng = new Rng(seed);
  const out: number[] = [];
  let state = c?.start() ?? null;
  for (let steps = 0; steps < hard; steps++) {
    const order = candidates(v, rng, steps >= soft);
    if (c === null) {
      const t = order.next().value as number;
      if (t === v.eos) return { bytes: Uint8Array.from(out), finished: true, deadEnd: false, steps };
      out.push(...v.tokens[t]);
      continue;
    }
    const pick = firstAllowed(c, state!, order, (t) => v.tokens[t], (t) => t === v.eos);
    if (pick === null) return { bytes: Uint8Array.from(out), finished: false, deadEnd: true, steps };
    if (pick.state === null) return { bytes: Uint8Array.from(out), finished: true, deadEnd: false, steps };
    out.push(...v.tokens[pick.token]);
    state = pick.state;
    if (c.mustEnd(state)) return { bytes: Uint8Array.from(out), finished: true, deadEnd: false, steps: steps + 1 };
  }
  return { bytes: Uint8Array.from(out), finished: false, deadEnd: false, steps: hard };
}
