// Makes the training data, deterministically from seeds: the held-out evaluation set, the corpus,
// a byte-level BPE learned on it, and the corpus tokenized by the engines' own tokenizer.
//   bun scripts/train/make-data.ts [--out scripts/train/data] [--seed 1] [--eval-seed 1001]
//       [--docs 400000] [--val-docs 4000] [--eval-per-family 50] [--vocab 2000]
//       [--boost compare=3,lookup=2] [--vocab-from scripts/train/data]
// --boost multiplies task families' shares of the training mix (the held-out set is drawn as always);
// --vocab-from reuses that directory's tokenizer.json instead of learning one, so a model trained on
// the old data can continue on the new (train.py --resume --data NEW checks the vocabularies match).
// Writes into --out: {train,val}.bin (uint16 ids), {train,val}.meta (uint8: loss class | 4 at the
// first token of an assistant reply), {train,val}.docs (uint32 start of each document, then the end),
// tokenizer.json, tokenizer_config.json, eval.jsonl (eval set with prompt ids), info.json, samples.txt; and the
// held-out set as {family, prompt, answer} lines to --eval-set (default scripts/train/eval-set.jsonl, committed).

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createTokenizer, type Tokenizer } from "../../src/tokenizer/tokenizer.ts";
import { countWords, learnMerges } from "./bpe-train.ts";
import { Corpus, evalSet, userPrompts, type Doc } from "./corpus.ts";
import { parseBoost } from "./tasks.ts";
import { BOS_ID, buildVocab, EOS_ID, EOT, EOT_ID, HEADER_END, HEADER_START, hfTokenizerConfig, hfTokenizerJson, tokenizerMetadata } from "./vocab-files.ts";

const N_FIXED = 262; // 256 bytes + 6 special tokens before the first merge
const ANSWER_START = 4;

const { values: a } = parseArgs({
  options: {
    out: { type: "string", default: join(import.meta.dir, "data") },
    seed: { type: "string", default: "1" },
    "eval-seed": { type: "string", default: "1001" },
    docs: { type: "string", default: "400000" },
    "val-docs": { type: "string", default: "4000" },
    "eval-per-family": { type: "string", default: "50" },
    vocab: { type: "string", default: "2000" },
    "bpe-docs": { type: "string", default: "40000" },
    boost: { type: "string", default: "" },
    "vocab-from": { type: "string" },
    "eval-set": { type: "string", default: join(import.meta.dir, "eval-set.jsonl") },
  },
});
const boost = parseBoost(a.boost!);
const seed = Number(a.seed);
const nDocs = Number(a.docs);
const nVal = Number(a["val-docs"]);
const vocabSize = Number(a.vocab);
mkdirSync(a.out!, { recursive: true });
const t0 = performance.now();
const log = (s: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${s}`);

// ── held-out evaluation set: its own seed, and its prompts are excluded from the corpus ──
const evalTasks = evalSet(Number(a["eval-seed"]), Number(a["eval-per-family"]));
const heldOut = new Set(evalTasks.map((t) => t.prompt));
writeFileSync(a["eval-set"]!, evalTasks.map((t) => JSON.stringify(t)).join("\n") + "\n");
log(`eval set: ${evalTasks.length} tasks`);

// ── corpus ──
const gen = (s: number, n: number): Doc[] => {
  const c = new Corpus(s, heldOut, boost);
  return Array.from({ length: n }, () => c.next());
};
const train = gen(seed, nDocs);
const val = gen(seed + 7919, nVal);
for (const d of [...train, ...val]) {
  for (const p of userPrompts(d)) if (heldOut.has(p)) throw new Error(`held-out prompt in the corpus: ${p}`);
}
log(`corpus: ${train.length} training and ${val.length} validation documents; no held-out prompt among them`);

// ── BPE ──
function docTexts(d: Doc): string[] {
  if (d.kind === "plain") return [d.text];
  return d.messages.flatMap((m) => [m.role, "\n\n" + m.content]);
}
function reusedMerges(dir: string): string[] {
  const merges = (JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as { model?: { merges?: unknown } }).model?.merges;
  if (!Array.isArray(merges) || !merges.every((m) => typeof m === "string")) throw new Error(`${dir}/tokenizer.json: no BPE merges list`);
  return merges as string[];
}
const words = a["vocab-from"] ? null : countWords(train.slice(0, Number(a["bpe-docs"])).flatMap(docTexts));
const merges = a["vocab-from"] ? reusedMerges(a["vocab-from"]) : learnMerges(words!, vocabSize - N_FIXED);
const vocab = buildVocab(merges);
const tok = createTokenizer(tokenizerMetadata(vocab));
writeFileSync(join(a.out!, "tokenizer.json"), JSON.stringify(hfTokenizerJson(vocab), null, 1));
writeFileSync(join(a.out!, "tokenizer_config.json"), JSON.stringify(hfTokenizerConfig(), null, 2));
log(`vocabulary: ${vocab.tokens.length} tokens (${merges.length} merges ${words ? `from ${words.size} distinct words` : `from ${a["vocab-from"]}`})`);

// ── tokenization ──
const NEWLINES = tok.findToken("ĊĊ");
if (NEWLINES === null) throw new Error('the vocabulary has no "\\n\\n" token');

/** Appends one document's ids and meta bytes. */
function encodeDoc(d: Doc, t: Tokenizer, ids: number[], meta: number[]): void {
  ids.push(BOS_ID);
  meta.push(0);
  if (d.kind === "plain") {
    for (const id of t.encode(d.text)) (ids.push(id), meta.push(2));
    ids.push(EOS_ID);
    meta.push(2);
    return;
  }
  for (const m of d.messages) {
    if (m.content !== m.content.trim()) throw new Error(`untrimmed content: ${JSON.stringify(m.content)}`);
    // Exactly the text the chat template renders for this message, tokenized as the server does.
    const x = t.encode(`${HEADER_START}${m.role}${HEADER_END}\n\n${m.content}${EOT}`, { parseSpecial: true });
    const h = x.indexOf(tok.findToken(HEADER_END)!);
    if (h < 0 || x[h + 1] !== NEWLINES || x[x.length - 1] !== EOT_ID) throw new Error(`unexpected message tokens for ${JSON.stringify(m)}`);
    for (let i = 0; i < x.length; i++) {
      ids.push(x[i]!);
      const content = i >= h + 2;
      meta.push(!content ? 1 : m.cls | (m.role === "assistant" && i === h + 2 ? ANSWER_START : 0));
    }
  }
}

function writeSplit(name: string, docs: Doc[]): { tokens: number; maxDoc: number; byClass: number[] } {
  const ids: number[] = [];
  const meta: number[] = [];
  const starts = new Uint32Array(docs.length + 1);
  let maxDoc = 0;
  docs.forEach((d, i) => {
    starts[i] = ids.length;
    encodeDoc(d, tok, ids, meta);
    maxDoc = Math.max(maxDoc, ids.length - starts[i]!);
  });
  starts[docs.length] = ids.length;
  writeFileSync(join(a.out!, `${name}.bin`), new Uint16Array(ids));
  writeFileSync(join(a.out!, `${name}.meta`), new Uint8Array(meta));
  writeFileSync(join(a.out!, `${name}.docs`), starts);
  const byClass = [0, 0, 0, 0];
  for (const m of meta) byClass[m & 3]!++;
  return { tokens: ids.length, maxDoc, byClass };
}

const trainStats = writeSplit("train", train);
const valStats = writeSplit("val", val);
log(`train: ${trainStats.tokens} tokens (longest document ${trainStats.maxDoc}); val: ${valStats.tokens}`);

// ── the evaluation prompts as token ids (train.py has no tokenizer of its own) ──
const chatPrompt = (prompt: string) =>
  `<|begin_of_text|>${HEADER_START}user${HEADER_END}\n\n${prompt}${EOT}${HEADER_START}assistant${HEADER_END}\n\n`;
writeFileSync(
  join(a.out!, "eval.jsonl"),
  evalTasks.map((t) => JSON.stringify({ ...t, prompt_ids: [...tok.encode(chatPrompt(t.prompt), { parseSpecial: true })] })).join("\n") + "\n",
);

// ── checks and a readable sample ──
const sample = train.slice(0, 40);
for (const d of sample) {
  const ids: number[] = [];
  encodeDoc(d, tok, ids, []);
  const text = tok.decode(ids, { special: true });
  const want = d.kind === "plain" ? `<|begin_of_text|>${d.text}<|end_of_text|>` : "<|begin_of_text|>" + d.messages.map((m) => `${HEADER_START}${m.role}${HEADER_END}\n\n${m.content}${EOT}`).join("");
  if (text !== want) throw new Error(`round trip failed:\n${want}\n${text}`);
}
writeFileSync(
  join(a.out!, "samples.txt"),
  sample.map((d) => {
    const ids: number[] = [];
    encodeDoc(d, tok, ids, []);
    return `${ids.length} tokens: ` + tok.decode(ids, { special: true });
  }).join("\n\n") + "\n",
);
writeFileSync(
  join(a.out!, "info.json"),
  JSON.stringify({
    seed, evalSeed: Number(a["eval-seed"]), boost, docs: nDocs, valDocs: nVal, vocab: vocab.tokens.length,
    bos: BOS_ID, eos: EOS_ID, eot: EOT_ID, mask: tok.mask, evalTasks: evalTasks.length,
    train: trainStats, val: valStats,
  }, null, 2),
);
log("done");
