// Conversion progress: a one-line bar redrawn in place on a terminal, one plain line per tensor
// otherwise (logs, CI), nothing when silenced; and the byte / time formatting the summary uses.

export type ProgressMode = "bar" | "lines" | "none";

export interface ProgressSink {
  write(s: string): void;
}

export class Progress {
  private done = 0;
  private readonly t0 = performance.now();

  constructor(
    private readonly total: number,
    private readonly mode: ProgressMode,
    private readonly out: ProgressSink = process.stdout,
    private readonly width = process.stdout.columns ?? 100,
  ) {}

  /** The stream's mode by whether it is a terminal. */
  static modeFor(stream: { isTTY?: boolean }): ProgressMode {
    return stream.isTTY ? "bar" : "lines";
  }

  tick(name: string, detail: string): void {
    this.done++;
    if (this.mode === "none") return;
    const n = String(this.total).length;
    const count = `[${String(this.done).padStart(n)}/${this.total}]`;
    if (this.mode === "lines") {
      this.out.write(`${count} ${name} ${detail}\n`);
      return;
    }
    const frac = this.done / this.total;
    const barW = 24;
    const filled = Math.round(frac * barW);
    const bar = `${"█".repeat(filled)}${"░".repeat(barW - filled)}`;
    const secs = (performance.now() - this.t0) / 1000;
    let line = `${bar} ${count} ${(frac * 100).toFixed(0).padStart(3)}% ${secs.toFixed(0)}s ${name}`;
    if (line.length > this.width - 1) line = line.slice(0, this.width - 1);
    this.out.write(`\r${line.padEnd(this.width - 1)}`);
  }

  end(): void {
    if (this.mode === "bar") this.out.write("\n");
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Peak resident set size of this process so far, in bytes (getrusage: kilobytes on Linux). */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
