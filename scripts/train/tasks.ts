// Task families with one exact, checkable answer each: counting and listing with a correct stop,
// copying and reversing, looking up a fact stated in the prompt, small arithmetic, comparisons.
// Answers are whole short sentences: longer deterministic answers are what block diffusion speeds up.

import { andList, an, cap, Gen } from "./gen.ts";
import { ANIMALS, COLORS, LETTERS, PEOPLE, SIMPLE_WORDS, THINGS } from "./words.ts";

export interface Task {
  family: string;
  prompt: string;
  answer: string;
}

type Maker = (g: Gen) => Task;

const range = (a: number, b: number, step: number): number[] => {
  const out: number[] = [];
  if (step > 0) for (let x = a; x <= b; x += step) out.push(x);
  else for (let x = a; x >= b; x += step) out.push(x);
  return out;
};

const countUp: Maker = (g) => {
  const a = g.int(0, 50);
  const b = a + g.int(2, 9);
  const p = g.pick(["Count from {a} to {b}.", "Please count from {a} to {b}.", "Count up from {a} to {b}.", "Can you count from {a} to {b}?", "List the numbers from {a} to {b}."]);
  return { family: "count", prompt: p.replace("{a}", `${a}`).replace("{b}", `${b}`), answer: range(a, b, 1).join(", ") + "." };
};

const countDown: Maker = (g) => {
  const b = g.int(0, 40);
  const a = b + g.int(2, 9);
  const p = g.pick(["Count down from {a} to {b}.", "Please count down from {a} to {b}.", "Count backwards from {a} to {b}."]);
  return { family: "count", prompt: p.replace("{a}", `${a}`).replace("{b}", `${b}`), answer: range(a, b, -1).join(", ") + "." };
};

const countStep: Maker = (g) => {
  const step = g.pick([2, 5, 10]);
  const a = step * g.int(0, 6);
  const b = a + step * g.int(2, 7);
  const p = g.pick(["Count by {s}s from {a} to {b}.", "Count from {a} to {b} in steps of {s}."]);
  return { family: "count", prompt: p.replace("{a}", `${a}`).replace("{b}", `${b}`).replace("{s}", `${step}`), answer: range(a, b, step).join(", ") + "." };
};

const letters: Maker = (g) => {
  const i = g.int(0, 20);
  const j = Math.min(25, i + g.int(2, 7));
  const p = g.pick(["List the letters from {a} to {b}.", "Say the alphabet from {a} to {b}.", "Write the letters from {a} to {b}."]);
  return { family: "count", prompt: p.replace("{a}", LETTERS[i]!).replace("{b}", LETTERS[j]!), answer: LETTERS.slice(i, j + 1).join(", ") + "." };
};

const copyWords: Maker = (g) => {
  const w = g.sample(SIMPLE_WORDS, g.int(3, 7));
  const p = g.pick(["Repeat these words: {w}.", "Repeat after me: {w}.", "Copy these words: {w}.", "Say these words again: {w}."]);
  return { family: "copy", prompt: p.replace("{w}", w.join(" ")), answer: w.join(" ") };
};

const reverseWords: Maker = (g) => {
  const w = g.sample(SIMPLE_WORDS, g.int(3, 6));
  const p = g.pick(["Reverse the order of these words: {w}.", "Say these words backwards: {w}.", "Write these words in reverse order: {w}."]);
  return { family: "reverse", prompt: p.replace("{w}", w.join(" ")), answer: [...w].reverse().join(" ") };
};

const reverseLetters: Maker = (g) => {
  const n = g.int(3, 7);
  const l: string[] = [];
  for (let i = 0; i < n; i++) l.push(g.pick(LETTERS).toLowerCase());
  const p = g.pick(["Reverse these letters: {l}", "Write these letters backwards: {l}"]);
  return { family: "reverse", prompt: p.replace("{l}", l.join(" ")), answer: [...l].reverse().join(" ") };
};

/** 2–4 people each holding a coloured thing; one question about one of them. */
const lookupThing: Maker = (g) => {
  const people = g.sample(PEOPLE, g.int(2, 4));
  const things = g.sample(THINGS, people.length);
  const colors = people.map(() => g.pick(COLORS));
  const facts = people.map((p, i) => `${p.name} has ${an(colors[i]!)} ${colors[i]} ${things[i]}`);
  const k = g.int(0, people.length - 1);
  const who = people[k]!;
  const story = facts.length === 2 ? `${facts[0]} and ${facts[1]}.` : andList(facts) + ".";
  const q = g.int(0, 2);
  if (q === 0) return { family: "lookup", prompt: `${story} What color is ${who.name}'s ${things[k]}?`, answer: `${who.name}'s ${things[k]} is ${colors[k]}.` };
  if (q === 1) return { family: "lookup", prompt: `${story} Who has the ${colors[k]} ${things[k]}?`, answer: `${who.name} has the ${colors[k]} ${things[k]}.` };
  return { family: "lookup", prompt: `${story} What does ${who.name} have?`, answer: `${cap(who.he)} has ${an(colors[k]!)} ${colors[k]} ${things[k]}.` };
};

const lookupAge: Maker = (g) => {
  const people = g.sample(PEOPLE, g.int(2, 4));
  const ages = people.map(() => g.int(2, 15));
  const facts = people.map((p, i) => `${p.name} is ${ages[i]} years old.`).join(" ");
  const k = g.int(0, people.length - 1);
  return { family: "lookup", prompt: `${facts} How old is ${people[k]!.name}?`, answer: `${people[k]!.name} is ${ages[k]} years old.` };
};

const PLACES_IN = ["in the box", "on the bed", "under the table", "in the garden", "on the roof", "near the door", "in the car", "under the tree", "on the chair", "in the basket"];

const lookupPlace: Maker = (g) => {
  const animals = g.sample(ANIMALS, g.int(2, 4));
  const places = g.sample(PLACES_IN, animals.length);
  const facts = animals.map((a, i) => `The ${a} is ${places[i]}.`).join(" ");
  const k = g.int(0, animals.length - 1);
  if (g.chance(0.5)) return { family: "lookup", prompt: `${facts} Where is the ${animals[k]}?`, answer: `The ${animals[k]} is ${places[k]}.` };
  return { family: "lookup", prompt: `${facts} What is ${places[k]}?`, answer: `The ${animals[k]} is ${places[k]}.` };
};

/** One operand: 0–9 or 10–99. */
const operand = (g: Gen, twoDigit: boolean): number => (twoDigit ? g.int(10, 99) : g.int(0, 9));

const add: Maker = (g) => {
  const shape = g.int(0, 2); // 0: 1+1 digits, 1: mixed, 2: 2+2 digits
  let a = operand(g, shape === 2 || (shape === 1 && g.chance(0.5)));
  let b = operand(g, shape === 2 || (shape === 1 && a < 10));
  if (shape === 1 && g.chance(0.5)) [a, b] = [b, a];
  const p = g.pick(["What is {a} + {b}?", "What is {a} plus {b}?", "Add {a} and {b}.", "Compute {a} + {b}.", "{a} + {b} = ?"]);
  return { family: "add", prompt: p.replace("{a}", `${a}`).replace("{b}", `${b}`), answer: `${a} + ${b} = ${a + b}.` };
};

const sub: Maker = (g) => {
  const shape = g.int(0, 2);
  let a = operand(g, shape >= 1);
  let b = operand(g, shape === 2);
  if (b > a) [a, b] = [b, a];
  const p = g.pick(["What is {a} - {b}?", "What is {a} minus {b}?", "Subtract {b} from {a}.", "Compute {a} - {b}.", "{a} - {b} = ?"]);
  return { family: "sub", prompt: p.replace("{a}", `${a}`).replace("{b}", `${b}`), answer: `${a} - ${b} = ${a - b}.` };
};

const compare: Maker = (g) => {
  const two = g.chance(0.7);
  const a = operand(g, two);
  let b = operand(g, g.chance(0.7));
  if (b === a) b = a + 1;
  if (g.chance(0.5)) {
    const p = g.pick(["Which is bigger, {a} or {b}?", "Which number is larger: {a} or {b}?"]);
    return { family: "compare", prompt: p.replace("{a}", `${a}`).replace("{b}", `${b}`), answer: `${Math.max(a, b)} is bigger than ${Math.min(a, b)}.` };
  }
  const p = g.pick(["Which is smaller, {a} or {b}?", "Which number is smaller: {a} or {b}?"]);
  return { family: "compare", prompt: p.replace("{a}", `${a}`).replace("{b}", `${b}`), answer: `${Math.min(a, b)} is smaller than ${Math.max(a, b)}.` };
};

const nextPrev: Maker = (g) => {
  const k = g.int(0, 2);
  if (k === 0) {
    const n = g.int(0, 98);
    return { family: "count", prompt: g.pick(["What number comes after {n}?", "What comes after {n}?"]).replace("{n}", `${n}`), answer: `${n + 1} comes after ${n}.` };
  }
  if (k === 1) {
    const n = g.int(1, 99);
    return { family: "count", prompt: g.pick(["What number comes before {n}?", "What comes before {n}?"]).replace("{n}", `${n}`), answer: `${n - 1} comes before ${n}.` };
  }
  const i = g.int(0, 24);
  return { family: "count", prompt: `What letter comes after ${LETTERS[i]}?`, answer: `${LETTERS[i + 1]} comes after ${LETTERS[i]}.` };
};

/** Every family with its share of the task mix. */
export const TASK_MAKERS: readonly [Maker, number][] = [
  [countUp, 3], [countDown, 2], [countStep, 1], [letters, 1], [nextPrev, 1],
  [copyWords, 2], [reverseWords, 2], [reverseLetters, 1],
  [lookupThing, 3], [lookupAge, 1], [lookupPlace, 1],
  [add, 4], [sub, 3], [compare, 1],
];

/** Per-family multipliers of the mix, e.g. { compare: 3 } (the held-out set is always drawn without). */
export type Boost = Readonly<Record<string, number>>;

const FAMILY_OF = TASK_MAKERS.map(([m]) => m(new Gen(0)).family);

/** The task mix's weights with `boost` applied; unknown families are an error. */
export function taskWeights(boost: Boost = {}): number[] {
  for (const f of Object.keys(boost)) {
    if (!FAMILY_OF.includes(f)) throw new Error(`unknown task family "${f}" (families: ${[...new Set(FAMILY_OF)].sort().join(", ")})`);
    if (!(boost[f]! > 0)) throw new Error(`boost for "${f}" must be a positive number`);
  }
  return TASK_MAKERS.map(([, w], i) => w * (boost[FAMILY_OF[i]!] ?? 1));
}

const DEFAULT_WEIGHTS = taskWeights();

export function task(g: Gen, weights: readonly number[] = DEFAULT_WEIGHTS): Task {
  return TASK_MAKERS[g.weighted(weights)]![0](g);
}

/** Parses "family=factor,family=factor" (make-data's --boost). */
export function parseBoost(s: string): Boost {
  const out: Record<string, number> = {};
  for (const part of s.split(",").filter((x) => x.trim() !== "")) {
    const m = /^\s*([a-z]+)\s*=\s*([0-9.]+)\s*$/.exec(part);
    if (!m) throw new Error(`--boost: expected family=factor, got "${part}"`);
    out[m[1]!] = Number(m[2]);
  }
  taskWeights(out);
  return out;
}
