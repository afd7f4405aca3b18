// A binary min-heap of candidate merges (adjacent symbol pairs) over typed arrays, shared by the
// BPE and SentencePiece merge loops; reused between calls so a merge loop allocates nothing.

/**
 * Entries are ordered by `priority` (lower first), then by `left` (leftmost first), which is the
 * order llama.cpp's merge queues pop in. Each entry carries two payload ints for validation.
 */
export class PairQueue {
  private priority = new Float64Array(256);
  private left = new Int32Array(256);
  private right = new Int32Array(256);
  private a = new Int32Array(256);
  private b = new Int32Array(256);
  size = 0;
  /** Fields of the entry the last pop() removed. */
  topLeft = 0;
  topRight = 0;
  topA = 0;
  topB = 0;

  clear(): void {
    this.size = 0;
  }

  push(priority: number, left: number, right: number, a: number, b: number): void {
    if (this.size === this.priority.length) this.grow();
    let i = this.size++;
    // sift up: move parents down until the new entry's slot is found
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!precedes(priority, left, this.priority[parent]!, this.left[parent]!)) break;
      this.move(parent, i);
      i = parent;
    }
    this.set(i, priority, left, right, a, b);
  }

  /** Removes the top entry, leaving its fields in `top*`. */
  pop(): void {
    const last = --this.size;
    this.topLeft = this.left[0]!;
    this.topRight = this.right[0]!;
    this.topA = this.a[0]!;
    this.topB = this.b[0]!;
    if (last === 0) return;
    const p = this.priority[last]!;
    const l = this.left[last]!;
    let i = 0;
    // sift down the former last entry from the root
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      const other = child + 1;
      if (other < last && precedes(this.priority[other]!, this.left[other]!, this.priority[child]!, this.left[child]!)) child = other;
      if (!precedes(this.priority[child]!, this.left[child]!, p, l)) break;
      this.move(child, i);
      i = child;
    }
    this.set(i, p, l, this.right[last]!, this.a[last]!, this.b[last]!);
  }

  private move(from: number, to: number): void {
    this.set(to, this.priority[from]!, this.left[from]!, this.right[from]!, this.a[from]!, this.b[from]!);
  }

  private set(i: number, p: number, l: number, r: number, a: number, b: number): void {
    this.priority[i] = p;
    this.left[i] = l;
    this.right[i] = r;
    this.a[i] = a;
    this.b[i] = b;
  }

  private grow(): void {
    const n = this.priority.length * 2;
    const grow32 = (x: Int32Array) => {
      const y = new Int32Array(n);
      y.set(x);
      return y;
    };
    const priority = new Float64Array(n);
    priority.set(this.priority);
    this.priority = priority;
    this.left = grow32(this.left);
    this.right = grow32(this.right);
    this.a = grow32(this.a);
    this.b = grow32(this.b);
  }
}

/** Whether an entry (priority p, left l) pops before one with (q, m). */
function precedes(p: number, l: number, q: number, m: number): boolean {
  return p < q || (p === q && l < m);
}
