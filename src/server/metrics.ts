// Server metrics in Prometheus' text exposition format: request and token counters, queue and sequence
// gauges, and latency histograms (time to first token, inter-token latency, DLM tokens per pass).

type Labels = Record<string, string>;

function labelText(l: Labels): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join("\n");
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private n = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(v: number, times = 1): void {
    if (!Number.isFinite(v) || times <= 0) return;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i] += times;
    this.sum += v * times;
    this.n += times;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.n}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.n}`);
    return lines.join("\n");
  }
}

const LATENCY_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly requests = new Counter("ternary_requests_total", "HTTP requests by route and status code");
  readonly promptTokens = new Counter("ternary_prompt_tokens_total", "Prompt tokens processed");
  readonly generatedTokens = new Counter("ternary_generated_tokens_total", "Tokens generated");
  readonly finished = new Counter("ternary_generations_total", "Finished generations by finish reason");
  readonly ttft = new Histogram("ternary_time_to_first_token_seconds", "Time from request to its first generated text", LATENCY_S);
  readonly itl = new Histogram("ternary_inter_token_latency_seconds", "Time between generated tokens", LATENCY_S);
  readonly dlmTokensPerPass = new Histogram("ternary_dlm_tokens_per_pass", "Block diffusion: tokens committed per forward pass, per request", [1, 1.5, 2, 2.5, 3, 4, 6, 8, 16, 32]);
  private readonly started = Date.now();
  private recent: { t: number; n: number }[] = [];

  constructor(private readonly gauges: () => { queued: number; active: number; capacity: number; ready: boolean }) {}

  /** Tokens generated now, for the rolling tokens/s gauge (an autoscaler signal). */
  tokens(n: number): void {
    const t = Date.now();
    this.generatedTokens.inc({}, n);
    this.recent.push({ t, n });
    while (this.recent.length > 0 && this.recent[0].t < t - 10_000) this.recent.shift();
  }

  render(): string {
    const g = this.gauges();
    const now = Date.now();
    const window = this.recent.filter((r) => r.t >= now - 10_000).reduce((a, r) => a + r.n, 0) / 10;
    const gauge = (name: string, help: string, v: number) => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${v}`;
    return [
      this.requests.render(),
      this.promptTokens.render(),
      this.generatedTokens.render(),
      this.finished.render(),
      gauge("ternary_queue_depth", "Requests waiting for a free sequence", g.queued),
      gauge("ternary_busy_sequences", "Sequences generating now", g.active),
      gauge("ternary_sequence_capacity", "Sequences that can generate at once (--parallel)", g.capacity),
      gauge("ternary_ready", "1 when the model is loaded and the server accepts work", g.ready ? 1 : 0),
      gauge("ternary_generated_tokens_per_second", "Tokens generated per second over the last 10 s", window),
      gauge("ternary_uptime_seconds", "Seconds since the server started", (now - this.started) / 1000),
      this.ttft.render(),
      this.itl.render(),
      this.dlmTokensPerPass.render(),
      "",
    ].join("\n");
  }
}
