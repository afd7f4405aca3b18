// The corpus's small world: names, animals, things, colours, places and the words that go with them.
// Kept small on purpose (a few hundred words) so a 2,000-token BPE holds almost every word whole.

export interface Person {
  name: string;
  he: string; // he / she
  him: string; // him / her
  his: string; // his / her
}

const boy = (name: string): Person => ({ name, he: "he", him: "him", his: "his" });
const girl = (name: string): Person => ({ name, he: "she", him: "her", his: "her" });

export const PEOPLE: readonly Person[] = [
  ...["Tom", "Sam", "Ben", "Max", "Leo", "Jack", "Tim", "Dan", "Finn", "Joe", "Noah", "Luke", "Ravi", "Omar", "Hugo"].map(boy),
  ...["Ann", "Mia", "Lily", "Zoe", "Ella", "Rosa", "Lucy", "Emma", "Sara", "Nina", "Ruby", "Maya", "Amy", "Ivy", "Kate"].map(girl),
];

export const ANIMALS = [
  "cat", "dog", "bird", "fox", "rabbit", "bear", "duck", "frog", "mouse", "owl", "horse", "pig",
  "lion", "fish", "cow", "sheep", "goat", "turtle", "bee", "puppy", "kitten", "squirrel", "deer", "hen",
] as const;

/** Things a character can have, hold, find or lose. */
export const THINGS = [
  "ball", "cup", "hat", "book", "kite", "box", "toy", "car", "bag", "shoe", "coat", "drum", "doll",
  "boat", "bell", "key", "pen", "apple", "cake", "flower", "stone", "sock", "bike", "train", "lamp",
  "rope", "shell", "ring", "map", "scarf",
] as const;

export const COLORS = ["red", "blue", "green", "yellow", "pink", "black", "white", "brown", "orange", "purple", "gray"] as const;

export const PLACES = [
  "park", "garden", "forest", "beach", "farm", "river", "hill", "school", "town", "lake", "field", "house",
  "kitchen", "yard", "shop", "zoo",
] as const;

export const ADJECTIVES = [
  "happy", "little", "big", "kind", "brave", "shy", "funny", "clever", "sleepy", "tiny", "friendly",
  "curious", "quiet", "silly", "gentle", "busy",
] as const;

export const FEELINGS = ["happy", "sad", "scared", "excited", "tired", "proud", "surprised", "calm", "angry", "glad"] as const;

/** Base form, past tense. */
export const ACTIVITIES: readonly [string, string][] = [
  ["play in the sun", "played in the sun"],
  ["run fast", "ran fast"],
  ["jump in puddles", "jumped in puddles"],
  ["read books", "read books"],
  ["sing songs", "sang songs"],
  ["draw pictures", "drew pictures"],
  ["dig in the sand", "dug in the sand"],
  ["climb trees", "climbed trees"],
  ["swim in the lake", "swam in the lake"],
  ["bake cookies", "baked cookies"],
  ["look at the stars", "looked at the stars"],
  ["build things", "built things"],
  ["dance", "danced"],
  ["ride a bike", "rode a bike"],
  ["fly a kite", "flew a kite"],
  ["plant seeds", "planted seeds"],
];

export const FOODS = ["apples", "bread", "soup", "carrots", "cheese", "rice", "cookies", "milk", "grapes", "honey", "pie", "eggs"] as const;

export const WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "cloudy", "snowy"] as const;

export const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"] as const;

export const SIMPLE_WORDS = [
  "cat", "dog", "sun", "tree", "cup", "hat", "red", "blue", "book", "fish", "bird", "car", "milk", "star",
  "moon", "cake", "frog", "door", "rain", "snow", "boat", "bell", "leaf", "rock", "king", "duck", "bear",
  "lamp", "ship", "sock", "road", "hill", "desk", "fox", "pen", "box", "egg", "key", "map", "owl",
] as const;

export const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");

export const NUMBER_WORDS = [
  "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
  "eleven", "twelve",
] as const;
