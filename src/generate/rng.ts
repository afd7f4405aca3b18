// The seeded pseudo-random generator behind sampling: xoshiro128** seeded through splitmix32,
// so one integer seed reproduces a whole generation on any machine and engine.

const TWO_POW_32 = 4294967296;

/** splitmix32 step: spreads any 32-bit input over the state space (used only to seed). */
function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A random seed from the OS, for requests that did not ask for reproducibility. */
export function randomSeed(): number {
  const words = crypto.getRandomValues(new Uint32Array(2));
  // 53 bits: the most a JS number holds exactly, so the seed can be reported and replayed.
  return (words[0]! & 0x1fffff) * TWO_POW_32 + words[1]!;
}

/**
 * xoshiro128** (Blackman & Vigna): 128-bit state, 32-bit outputs, no allocation per draw.
 * Chosen over Math.random because it is seedable and identical across runtimes.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    const int = Math.trunc(seed);
    // Fold both 32-bit halves of the integer in, so seeds 1 and 2^32 + 1 differ.
    const lo = int >>> 0;
    const hi = Math.floor(int / TWO_POW_32) >>> 0;
    const st = { x: lo ^ Math.imul(hi, 0x27d4eb2d) };
    this.s0 = splitmix32(st);
    this.s1 = splitmix32(st);
    this.s2 = splitmix32(st);
    this.s3 = splitmix32(st);
    // The all-zero state is the one fixed point of xoshiro; splitmix makes it near impossible, but be sure.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A generator with an exact raw state (for reference test vectors). */
  static fromState(s0: number, s1: number, s2: number, s3: number): Rng {
    const rng = new Rng(0);
    rng.s0 = s0 | 0;
    rng.s1 = s1 | 0;
    rng.s2 = s2 | 0;
    rng.s3 = s3 | 0;
    return rng;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2;
    const s3 = this.s3;
    // result = rotl(s1 * 5, 7) * 9
    const t5 = Math.imul(s1, 5);
    const result = Math.imul((t5 << 7) | (t5 >>> 25), 9) >>> 0;
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.s1 = s1 ^ n2;
    this.s0 = s0 ^ n3;
    this.s2 = n2 ^ t;
    this.s3 = (n3 << 11) | (n3 >>> 21);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992; // (hi·2^26 + lo) / 2^53
  }
}
