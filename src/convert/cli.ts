// `convert`: a Hugging Face BitNet checkpoint directory → GGUF, or a GGUF → GGUF ternary transcode.
// Parses and checks the flags, runs the conversion, prints progress and a summary; returns the exit code.

import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { EngineError } from "../engine/errors.ts";
import { GgufError } from "../gguf/errors.ts";
import { openGguf } from "../gguf/reader.ts";
import { isTernaryType, type TernaryType } from "../gguf/quants.ts";
import { GgmlType } from "../gguf/types.ts";
import { convertCheckpoint, formatSummary } from "./convert-checkpoint.ts";
import { ConvertError } from "./errors.ts";
import { HEAD_TYPES, OUT_TYPES, type HeadType, type OutType } from "./plan.ts";
import { formatBytes, peakRssBytes, Progress } from "./progress.ts";
import { transcodeGguf, validateTranscode } from "./transcode.ts";

export const CONVERT_USAGE = `usage: convert CHECKPOINT_DIR -o OUT.gguf [--outtype TYPE] [options]
       convert IN.gguf -o OUT.gguf --outtype i2_s|tq1_0|tq2_0 [--validate] [--allow-fallback]

CHECKPOINT_DIR: a Hugging Face BitNet checkpoint (config.json, *.safetensors or
model.safetensors.index.json + shards, tokenizer.json, tokenizer_config.json).
Accepted: BitNetForCausalLM / BitnetForCausalLM, and LlamaForCausalLM with BitLinear
layers. hidden_act relu2 → arch bitnet-b1.58, silu → bitnet. Linear weights may be
latent (bf16/f16/f32 master weights: BitNet absmean ternarisation), already ternary
(values in {-s, 0, s}: kept exactly) or Microsoft's packed uint8 + weight_scale.

options:
  -o, --outfile PATH   output file (default CHECKPOINT_DIR/ggml-model-TYPE.gguf)
  --outtype TYPE       i2_s (default) | tq1_0 | tq2_0 | f16 | bf16 | f32; float outtypes
                       hold the ternarised weights q·s, so every outtype is the same model
  --head TYPE          output head (token_embd when tied): f16 | f32 | bf16 | q8_0
                       (default: f16 for ternary outtypes, else the outtype)
  --allow-fallback     write linear weights whose rows do not fit the type's block
                       (TQ: 256, I2_S: 128) as F16 instead of failing
  --validate           reload the output and compare every tensor with the source
  --name NAME          general.name (default: config _name_or_path or the directory)
  -h, --help           this text

config.json keys for block-diffusion models (ours): mask_token_id (int) →
tokenizer.ggml.mask_token_id (else a |<MASK>| or <|mask|> token is used);
dlm_attention "block"|"causal", or bd_attention true|false → dlm.attention.`;

interface Args {
  input?: string;
  out?: string;
  outType: OutType;
  head?: HeadType;
  validate: boolean;
  allowFallback: boolean;
  name?: string;
  help: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { outType: "i2_s", validate: false, allowFallback: false, help: false };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new ConvertError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    if (arg.startsWith("--") && arg.includes("=")) {
      inline = arg.slice(arg.indexOf("=") + 1);
      arg = arg.slice(0, arg.indexOf("="));
    }
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = value(i, arg);
      i++;
      return v;
    };
    switch (arg) {
      case "-o": case "--outfile": case "--out": a.out = take(); break;
      case "--outtype": {
        const v = take().toLowerCase();
        if (!(OUT_TYPES as readonly string[]).includes(v)) throw new ConvertError(`--outtype ${v}: expected one of ${OUT_TYPES.join(", ")}`);
        a.outType = v as OutType;
        break;
      }
      case "--head": {
        const v = take().toLowerCase();
        if (!(HEAD_TYPES as readonly string[]).includes(v)) throw new ConvertError(`--head ${v}: expected one of ${HEAD_TYPES.join(", ")}`);
        a.head = v as HeadType;
        break;
      }
      case "--name": a.name = take(); break;
      case "--validate": a.validate = true; break;
      case "--allow-fallback": a.allowFallback = true; break;
      case "-h": case "--help": a.help = true; break;
      default:
        if (arg.startsWith("-")) throw new ConvertError(`unknown option ${arg}`);
        if (a.input !== undefined) throw new ConvertError(`more than one input (${a.input}, ${arg})`);
        a.input = arg;
    }
  }
  return a;
}

/** Runs `convert` with these arguments (without the subcommand); resolves to the exit code. */
export async function convertMain(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n\n${CONVERT_USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(CONVERT_USAGE);
    return 0;
  }
  if (args.input === undefined) {
    console.error(`error: no input given\n\n${CONVERT_USAGE}`);
    return 2;
  }
  const input = args.input;
  try {
    if (!existsSync(input)) throw new ConvertError(`${input}: not found`);
    const isDir = statSync(input).isDirectory();
    const out = args.out ?? (isDir ? join(input, `ggml-model-${args.outType}.gguf`) : undefined);
    if (out === undefined) throw new ConvertError("-o OUT.gguf is required when transcoding a GGUF");
    if (isDir) runCheckpoint(input, out, args);
    else runTranscode(input, out, args);
    return 0;
  } catch (e) {
    if (e instanceof ConvertError || e instanceof GgufError || e instanceof EngineError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

function runCheckpoint(dir: string, out: string, args: Args): void {
  const s = convertCheckpoint(dir, out, {
    outType: args.outType, head: args.head, allowFallback: args.allowFallback, name: args.name,
    progress: Progress.modeFor(process.stdout), validate: args.validate,
  });
  console.log(formatSummary(s));
}

function runTranscode(input: string, out: string, args: Args): void {
  const to = TERNARY_OUT[args.outType];
  if (to === undefined) throw new ConvertError(`--outtype ${args.outType}: a GGUF input is transcoded to a ternary type only (i2_s, tq1_0, tq2_0)`);
  if (args.head !== undefined || args.name !== undefined) throw new ConvertError("--head and --name apply to checkpoint conversion only");
  const t0 = performance.now();
  const file = openGguf(input);
  if (!file.tensors.some((t) => isTernaryType(t.type))) throw new ConvertError(`${input}: has no ternary tensors to transcode (convert the checkpoint instead)`);
  const progress = new Progress(file.tensors.length, Progress.modeFor(process.stdout));
  transcodeGguf(file, to, out, (i) => progress.tick(file.tensors[i - 1].name, ""), { allowFallback: args.allowFallback });
  progress.end();
  let validated = "";
  if (args.validate) {
    try {
      validated = `\nvalidated: ${validateTranscode(input, out)} tensors (ternary codes identical)`;
    } catch (e) {
      rmSync(out, { force: true });
      throw new ConvertError(`${(e as Error).message} (removed ${out})`);
    }
  }
  console.log(
    `wrote ${out}: ${file.tensors.length} tensors, ${formatBytes(statSync(out).size)}${validated}\n` +
      `time ${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS ${formatBytes(peakRssBytes())}`,
  );
}

const TERNARY_OUT: Partial<Record<OutType, TernaryType>> = { i2_s: GgmlType.I2_S, tq1_0: GgmlType.TQ1_0, tq2_0: GgmlType.TQ2_0 };

// Runnable on its own (`bun src/convert/cli.ts DIR -o OUT.gguf`) until src/cli.ts dispatches to it.
if (import.meta.main) process.exitCode = await convertMain(process.argv.slice(2));
