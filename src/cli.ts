// The command line: `serve` (the HTTP server), with `bench` and `convert` dispatched to their modules.
// Every option comes from a flag or a TERNARY_* environment variable, validated by one zod schema.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { z } from "zod";
import { EngineHost } from "./engine/engine-host.ts";
import { DLM_DEFAULTS, resolveDlm, type DlmConfig } from "./generate/dlm-config.ts";
import { formatReport, runBenchmark } from "./bench/benchmark-mode.ts";
import { embeddedPath, extractEmbedded } from "./engine/embedded.ts";
import { openEngine } from "./engine/open.ts";
import { createApp } from "./server/app.ts";
import { Metrics } from "./server/metrics.ts";
import { defaultAllowedHosts } from "./server/security.ts";
import chatPage from "./web/index.html";

const root = join(import.meta.dir, "..");
export const DEFAULT_MODEL = join(root, "models", "default.gguf");

const serveSchema = z.object({
  engine: z.enum(["native", "llama"]),
  model: z.string().min(1),
  "model-id": z.string().min(1).max(256).optional(),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  ctx: z.coerce.number().int().min(16).max(1 << 20),
  batch: z.coerce.number().int().min(1).max(8192),
  parallel: z.coerce.number().int().min(1).max(256),
  threads: z.coerce.number().int().min(1).max(1024),
  queue: z.coerce.number().int().min(0).max(100000),
  "queue-timeout": z.coerce.number().min(0.1).max(86400),
  "max-tokens": z.coerce.number().int().min(1).max(1 << 20),
  "body-limit": z.coerce.number().int().min(1024).max(1 << 30),
  dlm: z.enum(["true", "false"]).transform((v) => v === "true"),
  "dlm-block-size": z.coerce.number().int().min(1).max(256),
  "dlm-sub-block-size": z.coerce.number().int().min(1).max(256),
  "dlm-threshold": z.coerce.number().min(0).max(2),
  "dlm-mode": z.enum(["greedy", "iterative", "adaptive"]),
  "dlm-confidence": z.enum(["prob", "margin"]),
  "dlm-max-steps": z.coerce.number().int().min(1).max(1024),
  "dlm-attention": z.enum(["auto", "causal", "block"]),
  "dlm-lookahead": z.enum(["true", "false"]).transform((v) => v === "true"),
  "mask-token-id": z.coerce.number().int().min(0).optional(),
  "api-key": z.string().min(8, "an API key needs at least 8 characters").optional(),
  "api-key-file": z.string().min(1).optional(),
  "cors-origins": z.string().optional(),
  "allowed-hosts": z.string().optional(),
  "shutdown-timeout": z.coerce.number().min(0).max(3600),
  benchmark: z.enum(["true", "false"]).transform((v) => v === "true"),
  "benchmark-iterations": z.coerce.number().int().min(1).max(1000),
  "benchmark-max-tokens": z.coerce.number().int().min(1).max(1 << 16),
  "benchmark-prompt": z.string().min(1),
  "benchmark-json": z.string().optional(),
});
export type ServeConfig = z.infer<typeof serveSchema>;

const DEFAULTS: Record<keyof ServeConfig, string | undefined> = {
  engine: "native",
  model: DEFAULT_MODEL,
  "model-id": undefined,
  host: "127.0.0.1",
  port: "30000",
  ctx: "4096",
  batch: "512",
  parallel: "4",
  threads: String(navigator.hardwareConcurrency || 2),
  queue: "64",
  "queue-timeout": "600",
  "max-tokens": "512",
  "body-limit": String(4 << 20),
  dlm: "false",
  "dlm-block-size": String(DLM_DEFAULTS.blockSize),
  "dlm-sub-block-size": String(DLM_DEFAULTS.subBlockSize),
  "dlm-threshold": String(DLM_DEFAULTS.threshold),
  "dlm-mode": DLM_DEFAULTS.mode,
  "dlm-confidence": DLM_DEFAULTS.confidence,
  "dlm-max-steps": String(DLM_DEFAULTS.maxStepsPerBlock),
  "dlm-attention": "auto",
  "dlm-lookahead": String(DLM_DEFAULTS.lookahead),
  "mask-token-id": undefined,
  "api-key": undefined,
  "api-key-file": undefined,
  "cors-origins": undefined,
  "allowed-hosts": undefined,
  "shutdown-timeout": "30",
  benchmark: "false",
  "benchmark-iterations": "5",
  "benchmark-max-tokens": "128",
  "benchmark-prompt": "Once upon a time, in a small village by the sea, there lived an old fisherman who",
  "benchmark-json": undefined,
};

/** Options that may be given without a value (`--dlm` ≡ `--dlm true`). */
const BOOLEAN_FLAGS = new Set(["dlm", "benchmark", "dlm-lookahead"]);

const HELP: Record<keyof ServeConfig, string> = {
  engine: "inference engine: native (our kernels) or llama (llama.cpp)",
  model: "GGUF model file (default: the embedded model, models/default.gguf)",
  "model-id": "name clients use in `model` (default: the file name without .gguf)",
  host: "address to bind (127.0.0.1 keeps the server local)",
  port: "TCP port",
  ctx: "context length per sequence, tokens",
  batch: "most tokens in one forward pass",
  parallel: "sequences decoded together (continuous batching)",
  threads: "CPU threads for the engine",
  queue: "requests that may wait for a free sequence before 429",
  "queue-timeout": "seconds a request may wait in the queue before 503",
  "max-tokens": "default max_tokens when a request gives none",
  "body-limit": "largest request body, bytes",
  dlm: "block-diffusion decoding by default (requests can still say \"dlm\": false)",
  "dlm-block-size": "block diffusion: tokens per block",
  "dlm-sub-block-size": "block diffusion: tokens per sub-block (committed together)",
  "dlm-threshold": "block diffusion: confidence needed to unmask a position (> 1: one per step)",
  "dlm-mode": "block diffusion: greedy (one pass per sub-block), iterative, adaptive",
  "dlm-confidence": "block diffusion: prob (top-1 probability) or margin (top-1 minus top-2)",
  "dlm-max-steps": "block diffusion: most steps per sub-block",
  "dlm-attention": "block diffusion: attention inside a block (auto: from the model, else block)",
  "dlm-lookahead": "block diffusion, block attention: also decode the rest of the block as masks (slower; the training layout)",
  "mask-token-id": "block diffusion: the mask token, when the model does not declare one",
  "api-key": "require this key (Authorization: Bearer or x-api-key); /health and /ready stay open",
  "api-key-file": "read the API key(s) from a file, one per line",
  "cors-origins": "comma-separated origins allowed by CORS (* for any); CORS is off by default",
  "allowed-hosts": "extra Host names accepted when bound to loopback (DNS-rebinding protection)",
  "shutdown-timeout": "seconds to let running requests finish after SIGTERM before cancelling them",
  benchmark: "measure speed in this process (no port) and exit",
  "benchmark-iterations": "benchmark: measured runs (after one warm-up)",
  "benchmark-max-tokens": "benchmark: tokens to generate per run (end-of-generation ignored)",
  "benchmark-prompt": "benchmark: the prompt",
  "benchmark-json": "benchmark: also write the report as JSON to this file",
};

export class CliError extends Error {}

function readKeyFile(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  } catch (e) {
    throw new CliError(`--api-key-file: cannot read ${path}: ${(e as Error).message}`);
  }
}

function envName(key: string): string {
  return `TERNARY_${key.toUpperCase().replaceAll("-", "_")}`;
}

/** `--key value`, `--key=value`; flags override TERNARY_* variables, which override defaults. */
export function parseServeArgs(argv: string[], env: Record<string, string | undefined> = process.env): ServeConfig {
  const raw: Record<string, string | undefined> = {};
  for (const k of Object.keys(DEFAULTS)) raw[k] = env[envName(k)] ?? DEFAULTS[k as keyof ServeConfig];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new CliError(`unexpected argument '${a}'`);
    const eq = a.indexOf("=");
    const k = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!(k in DEFAULTS)) throw new CliError(`unknown option --${k} (see --help)`);
    const bare = eq < 0 && BOOLEAN_FLAGS.has(k) && (argv[i + 1] === undefined || argv[i + 1].startsWith("--"));
    const v = bare ? "true" : eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new CliError(`--${k} needs a value`);
    raw[k] = v;
  }
  const r = serveSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new CliError(`--${String(issue.path[0])}: ${issue.message} (got '${raw[String(issue.path[0])]}')`);
  }
  return r.data;
}

export function serveHelp(): string {
  const lines = ["usage: bun run serve [options]", "", "options (each also from the environment variable shown):"];
  for (const k of Object.keys(HELP) as (keyof ServeConfig)[]) {
    const d = DEFAULTS[k] === undefined ? "" : ` [default: ${DEFAULTS[k]}]`;
    lines.push(`  --${k.padEnd(14)} ${HELP[k]}${d}  (${envName(k)})`);
  }
  return lines.join("\n");
}

function dlmConfigOf(cfg: ServeConfig): DlmConfig {
  return {
    enabled: cfg.dlm,
    blockSize: cfg["dlm-block-size"],
    subBlockSize: cfg["dlm-sub-block-size"],
    threshold: cfg["dlm-threshold"],
    mode: cfg["dlm-mode"],
    confidence: cfg["dlm-confidence"],
    maxStepsPerBlock: cfg["dlm-max-steps"],
    attention: cfg["dlm-attention"] === "auto" ? null : cfg["dlm-attention"],
    lookahead: cfg["dlm-lookahead"],
    maskToken: cfg["mask-token-id"] ?? null,
  };
}

async function serve(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(serveHelp());
    return;
  }
  const cfg = parseServeArgs(argv);
  if (cfg.model === DEFAULT_MODEL) cfg.model = await defaultModelPath();
  if (!existsSync(cfg.model) || !statSync(cfg.model).isFile()) {
    throw new CliError(
      cfg.model === DEFAULT_MODEL
        ? `the embedded default model (${cfg.model}) is not in this checkout yet; pass --model PATH to a GGUF file`
        : `model file not found: ${cfg.model}`,
    );
  }
  const modelId = cfg["model-id"] ?? basename(cfg.model).replace(/\.gguf$/i, "");
  if (cfg.benchmark) return benchmark(cfg);
  const host = new EngineHost({
    engine: cfg.engine,
    model: cfg.model,
    nCtx: cfg.ctx,
    nBatch: cfg.batch,
    nParallel: cfg.parallel,
    threads: cfg.threads,
    queueLimit: cfg.queue,
    queueTimeoutMs: cfg["queue-timeout"] * 1000,
  });
  const dlm = dlmConfigOf(cfg);
  const apiKeys = [cfg["api-key"], ...(cfg["api-key-file"] ? readKeyFile(cfg["api-key-file"]) : [])].filter((k): k is string => !!k);
  const list = (v: string | undefined) => (v ?? "").split(",").map((x) => x.trim()).filter(Boolean);
  let draining = false;
  const metrics = new Metrics(() => ({ ...host.stats, capacity: cfg.parallel, ready: host.info !== null && !draining }));
  const app = createApp({
    client: host,
    modelId,
    defaults: { maxTokens: cfg["max-tokens"], dlm },
    bodyLimit: cfg["body-limit"],
    metrics,
    queueLimit: cfg.queue,
    draining: () => draining,
    security: {
      apiKeys,
      corsOrigins: list(cfg["cors-origins"]),
      allowedHosts: defaultAllowedHosts(cfg.host, list(cfg["allowed-hosts"])),
    },
  });
  const server = Bun.serve({
    hostname: cfg.host,
    port: cfg.port,
    // The chat page and its bundled assets (embedded by `bun build --compile`); Bun serves them before
    // the app, so they need no API key (the page asks for it). Everything else goes to the app.
    routes: { "/": chatPage },
    development: false,
    fetch: app.fetch,
    // Streams may be silent for long prefills; SSE keep-alives and our own timeouts govern instead.
    idleTimeout: 0,
    // Bun's own limit answers with an empty 413; ours (in readJson) answers in OpenAI's shape, so Bun's
    // only stops absurd uploads.
    maxRequestBodySize: Math.max(cfg["body-limit"] * 4, 64 << 20),
  });
  console.error(`[serve] listening on http://${server.hostname}:${server.port} (engine ${cfg.engine}); loading ${cfg.model}`);
  const t0 = performance.now();
  try {
    const info = await host.ready();
    if (dlm.enabled) {
      try {
        const d = resolveDlm(dlm, info);
        console.error(`[serve] block diffusion on: block ${d.blockSize}, sub-block ${d.subBlockSize}, θ ${d.threshold}, ${d.mode}, ${d.attention} attention, mask token ${d.maskToken}`);
      } catch (e) {
        console.error(`[serve] error: --dlm: ${(e as Error).message}`);
        server.stop(true);
        await host.close();
        process.exit(2);
      }
    }
    console.error(
      `[serve] model '${modelId}' ready in ${((performance.now() - t0) / 1000).toFixed(2)} s: ${info.arch} ${info.format}, ` +
        `${info.nLayers} layers, ctx ${info.nCtx}, ${cfg.parallel} parallel`,
    );
  } catch (e) {
    console.error(`[serve] error: could not load the model: ${(e as Error).message}`);
    server.stop(true);
    await host.close();
    process.exit(1);
  }
  // Graceful drain: /ready fails at once, no new connections, running requests get up to
  // --shutdown-timeout to finish; whatever is left is cancelled (its clients see an error), exit 0.
  const shutdown = async (sig: string) => {
    if (draining) return;
    draining = true;
    console.error(`[serve] ${sig}: draining (up to ${cfg["shutdown-timeout"]} s for ${host.stats.active + host.stats.queued} running requests)`);
    void server.stop(false);
    const deadline = Date.now() + cfg["shutdown-timeout"] * 1000;
    while (host.stats.active + host.stats.queued > 0 && Date.now() < deadline) await Bun.sleep(50);
    await host.close();
    await Bun.sleep(50); // let cancelled streams flush their last frame
    void server.stop(true);
    console.error("[serve] stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

/** The default model: the checkout's models/default.gguf, or in the executable its embedded copy. */
async function defaultModelPath(): Promise<string> {
  const embedded = embeddedPath("default", ".gguf");
  return embedded ? extractEmbedded(embedded, "default.gguf") : DEFAULT_MODEL;
}

async function benchmark(cfg: ServeConfig): Promise<void> {
  const t0 = performance.now();
  const engine = openEngine({
    engine: cfg.engine, model: cfg.model, nCtx: cfg.ctx, nBatch: cfg.batch, nParallel: 1, threads: cfg.threads,
    queueLimit: 1, queueTimeoutMs: 1,
  });
  console.error(`[bench] ${cfg.engine} engine loaded ${cfg.model} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  try {
    let dlm = null;
    try {
      if (cfg.dlm) dlm = resolveDlm(dlmConfigOf(cfg), engine.info);
    } catch (e) {
      throw new CliError(`--dlm: ${(e as Error).message}`);
    }
    const report = runBenchmark(
      engine,
      { iterations: cfg["benchmark-iterations"], maxTokens: cfg["benchmark-max-tokens"], prompt: cfg["benchmark-prompt"], dlm, ignoreEos: true },
      { model: cfg.model, threads: cfg.threads },
    );
    console.log(formatReport(report));
    if (cfg["benchmark-json"]) writeFileSync(cfg["benchmark-json"], JSON.stringify(report, null, 2));
  } finally {
    engine.close();
  }
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case "serve":
      return serve(rest);
    case "convert": {
      const code = await (await import("./convert/cli.ts")).convertMain(rest);
      if (code !== 0) process.exit(code);
      return;
    }
    case undefined:
    case "--help":
    case "-h":
      console.log("usage: bun run serve|convert [options]; `bun run serve --help` and `bun run convert --help` for each");
      return;
    default:
      throw new CliError(`unknown command '${cmd}' (known: serve, convert)`);
  }
}

if (import.meta.main) {
  main().catch((e) => {
    if (e instanceof CliError) {
      console.error(`error: ${e.message}`);
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  });
}
