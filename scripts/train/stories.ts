// Open-ended text: short stories (on a requested topic when asked) and small-talk dialogues. Templates
// with many interchangeable sentences keep the language fluent and varied over a small vocabulary.

import { an, cap, fill, Gen } from "./gen.ts";
import { ACTIVITIES, ADJECTIVES, ANIMALS, COLORS, DAYS, FOODS, PEOPLE, PLACES, THINGS, WEATHER, type Person } from "./words.ts";

export interface StoryTopic {
  animal?: string;
  person?: Person;
  thing?: string;
  place?: string;
}

/** One short story (4–9 sentences). The hero is a named child, or a named animal when `animal` is set. */
export function story(g: Gen, topic: StoryTopic = {}): string {
  const hero = topic.person ?? g.pick(PEOPLE);
  const friend = g.pick(PEOPLE.filter((p) => p.name !== hero.name));
  const animal = topic.animal ?? (g.chance(0.5) ? g.pick(ANIMALS) : undefined);
  const s = {
    name: hero.name,
    he: hero.he,
    He: cap(hero.he),
    him: hero.him,
    his: hero.his,
    His: cap(hero.his),
    friend: friend.name,
    fhe: friend.he,
    Fhe: cap(friend.he),
    fhis: friend.his,
    adj: g.pick(ADJECTIVES),
    adj2: g.pick(ADJECTIVES),
    animal: animal ?? "girl",
    an_animal: animal ? `${an(animal)} ${animal}` : "",
    place: topic.place ?? g.pick(PLACES),
    place2: g.pick(PLACES),
    thing: topic.thing ?? g.pick(THINGS),
    color: "",
    a_color: "",
    act: "",
    acted: "",
    food: g.pick(FOODS),
    weather: g.pick(WEATHER),
    day: g.pick(DAYS),
  };
  [s.act, s.acted] = g.pick(ACTIVITIES);
  s.color = g.pick(COLORS);
  s.a_color = `${an(s.color)} ${s.color}`;
  const out: string[] = [];
  const say = (templates: readonly string[]) => out.push(fill(g.pick(templates), s));

  if (animal) {
    s.animal = animal;
    say([
      "Once upon a time, there was {adj} {animal} named {name}.",
      "There once was {adj} {animal} called {name}.",
      "{name} was {adj} {animal} who lived near the {place}.",
      "In a small {place}, there lived {adj} {animal} named {name}.",
    ].map((t) => t.replace("{adj}", `${an(s.adj)} {adj}`)));
  } else {
    say([
      "Once upon a time, there was {adj} child named {name}.",
      "{name} was {adj} kid who lived near the {place}.",
      "One {weather} {day}, {name} went to the {place}.",
      "There once was a child named {name}, and {he} was very {adj}.",
    ].map((t) => t.replace("{adj} child", `${an(s.adj)} {adj} child`).replace("{adj} kid", `${an(s.adj)} {adj} kid`)));
  }
  say([
    "{name} loved to {act}.",
    "Every day, {name} liked to {act}.",
    "{His} favorite thing was to {act}.",
    "More than anything, {name} wanted to {act}.",
  ]);
  say([
    "One day, {name} found {a_color} {thing} in the {place}.",
    "One morning, {he} saw {a_color} {thing} near the {place}.",
    "On a {weather} day, {name} got {a_color} {thing} from {his} mom.",
    "Then {he} found {a_color} {thing} under a tree.",
  ]);
  const withFriend = g.chance(0.7);
  if (withFriend) {
    say([
      "{name} showed the {thing} to {his} friend {friend}.",
      "{He} ran to tell {his} friend {friend}.",
      "{friend} came to see the {thing} too.",
    ]);
    say([
      "\"Look at my {thing}!\" said {name}. \"It is so pretty!\" said {friend}.",
      "\"Can I play with it?\" asked {friend}. \"Yes, we can share it,\" said {name}.",
      "\"What a nice {thing},\" said {friend}. \"Let's play with it together.\"",
      "\"Wow!\" said {friend}. \"Where did you find it?\"",
    ]);
  }
  if (g.chance(0.6)) {
    say([
      "But then the {thing} fell into the river.",
      "But the wind took the {thing} away.",
      "Then the {thing} rolled under a big rock.",
      "Suddenly, the {thing} was gone, and {name} felt sad.",
      "But the {thing} got stuck up in a tall tree.",
    ]);
    say(withFriend ? [
      "{friend} helped {him} get it back.",
      "{name} and {friend} looked everywhere, and at last they found it.",
      "{name} did not give up, and soon {he} got it back.",
    ] : [
      "{name} did not give up, and soon {he} got it back.",
      "A kind bird helped {him} find it again.",
    ]);
  }
  if (g.chance(0.5)) {
    const who = withFriend ? "they" : "{he}";
    say([
      `After that, ${who} ate some {food} and {acted}.`,
      `Then ${who} went to the {place2} and {acted}.`,
      `Later, ${who} had {food} for lunch.`,
      `${withFriend ? "They" : "{He}"} {acted} until the sun went down.`,
    ]);
  }
  say(withFriend ? [
    "{name} was very happy.",
    "It was the best day ever.",
    "From that day on, {name} and {friend} were best friends.",
    "{name} learned that sharing makes everyone happy.",
    "That night, {name} went to bed with a big smile.",
    "{name} learned that it is good to help your friends.",
    "The end.",
  ] : [
    "{name} was very happy.",
    "It was the best day ever.",
    "That night, {name} went to bed with a big smile.",
    "{name} learned to never give up.",
    "The end.",
  ]);
  return out.join(" ");
}

/** A user's request for a story, and the topic it names. */
export function storyRequest(g: Gen): { prompt: string; topic: StoryTopic } {
  const k = g.int(0, 4);
  if (k === 0) {
    const animal = g.pick(ANIMALS);
    const p = g.pick(["Tell me a story about {a}.", "Write a short story about {a}.", "Can you tell me a story about {a}?", "I want a story about {a}.", "Tell me a short story with {a} in it."]);
    return { prompt: p.replace("{a}", `${an(animal)} ${animal}`), topic: { animal } };
  }
  if (k === 1) {
    const person = g.pick(PEOPLE);
    const p = g.pick(["Tell me a story about {n}.", "Write a story about a child named {n}.", "Can you write a short story about {n}?"]);
    return { prompt: p.replace("{n}", person.name), topic: { person } };
  }
  if (k === 2) {
    const thing = g.pick(THINGS);
    const p = g.pick(["Tell me a story about a lost {t}.", "Write a story about a {t}.", "Tell me a story where someone finds a {t}."]);
    return { prompt: p.replace("{t}", thing), topic: { thing } };
  }
  if (k === 3) {
    const place = g.pick(PLACES);
    const p = g.pick(["Tell me a story about a day at the {p}.", "Write a short story that happens at the {p}."]);
    return { prompt: p.replace("{p}", place), topic: { place } };
  }
  return {
    prompt: g.pick(["Tell me a story.", "Tell me a bedtime story.", "Can you tell me a short story?", "Write a story for a child.", "Please tell me a story.", "I am bored. Tell me a story!"]),
    topic: {},
  };
}

export interface Turn {
  user: string;
  assistant: string;
}

/** Small talk: greetings, questions about the assistant, simple questions about the story world. */
export function smallTalk(g: Gen): Turn {
  const person = g.pick(PEOPLE);
  const animal = g.pick(ANIMALS);
  const color = g.pick(COLORS);
  const food = g.pick(FOODS);
  const pairs: (() => Turn)[] = [
    () => ({ user: g.pick(["Hello!", "Hi!", "Hi there.", "Hello.", "Hey!", "Good morning!"]), assistant: g.pick(["Hello! How can I help you today?", "Hi! What would you like to talk about?", "Hello! I am happy to help. What do you need?", "Hi there! Do you want a story, or a question answered?"]) }),
    () => ({ user: g.pick(["How are you?", "How are you today?", "How is your day?"]), assistant: g.pick(["I am fine, thank you. How are you?", "I am doing well, thanks for asking! How can I help?", "I am good. What can I do for you?"]) }),
    () => ({ user: g.pick(["Who are you?", "What are you?", "What is your name?", "Tell me about yourself."]), assistant: g.pick(["I am a small helpful assistant. I can tell stories, count, add and subtract, and answer simple questions.", "I am a tiny language model. I like to tell short stories and help with small tasks.", "I am a small assistant that runs on your computer. I can count, do small sums and tell stories."]) }),
    () => ({ user: g.pick(["What can you do?", "How can you help me?", "What are you good at?"]), assistant: "I can tell short stories, count from one number to another, add and subtract small numbers, repeat or reverse a list of words, and answer questions about facts you give me." }),
    () => ({ user: g.pick(["Thank you!", "Thanks!", "Thank you very much.", "Thanks a lot."]), assistant: g.pick(["You are welcome!", "You are welcome. Have a nice day!", "Happy to help!", "Any time!"]) }),
    () => ({ user: g.pick(["Bye!", "Goodbye.", "See you later!", "Good night."]), assistant: g.pick(["Goodbye! Have a nice day.", "Bye! See you soon.", "Good night! Sleep well."]) }),
    () => ({ user: `What color is the sky?`, assistant: g.pick(["The sky is blue on a sunny day.", "The sky is blue."]) }),
    () => ({ user: `What color is grass?`, assistant: "Grass is green." }),
    () => ({ user: `What does ${an(animal)} ${animal} say?`, assistant: animalSound(animal) }),
    () => ({ user: `Do you like ${food}?`, assistant: g.pick([`I do not eat, but many people love ${food}.`, `I cannot eat, but ${food} sound good!`]) }),
    () => ({ user: `My name is ${person.name}.`, assistant: g.pick([`Nice to meet you, ${person.name}!`, `Hello, ${person.name}! How can I help you today?`]) }),
    () => ({ user: `What is your favorite color?`, assistant: `I like ${color}. It is a nice color.` }),
    () => ({ user: `I feel sad.`, assistant: g.pick(["I am sorry you feel sad. Would you like to hear a happy story?", "I am sorry. Talking to a friend can help. I am here too."]) }),
    () => ({ user: `I am happy today!`, assistant: "That is great! I am glad you are happy." }),
    () => {
      const d = g.int(0, 6);
      return { user: `What day comes after ${DAYS[d]}?`, assistant: `${DAYS[(d + 1) % 7]} comes after ${DAYS[d]}.` };
    },
  ];
  return g.pick(pairs)();
}

function animalSound(animal: string): string {
  const sounds: Record<string, string> = {
    cat: "meow", kitten: "meow", dog: "woof", puppy: "woof", cow: "moo", duck: "quack", sheep: "baa",
    goat: "baa", pig: "oink", horse: "neigh", owl: "hoot", frog: "ribbit", lion: "roar", bee: "buzz",
    hen: "cluck", bird: "tweet", mouse: "squeak",
  };
  const s = sounds[animal];
  return s ? `${cap(an(animal))} ${animal} says "${s}".` : `${cap(an(animal))} ${animal} is mostly quiet.`;
}
