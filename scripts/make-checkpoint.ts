// Writes a random-weight Hugging Face checkpoint in the BitNet-b1.58-2B-4T shape (hidden 2560, 30
// layers, ffn 6912, vocab 128256; ≈ 4.8 GB in bf16) for the converter's memory and speed check.
//
// usage: bun scripts/make-checkpoint.ts --out DIR [--scale F] [--form latent|ternary|packed]
//                                       [--arch bitnet|bitnet-b1.58] [--shards N] [--seed N]
// --scale keeps every matrix full size and scales the layer count (0.25 → 8 layers, ≈ 1.8 GB), so the
// largest tensors, which bound the converter's memory, are those of the real model.
// Then: bun src/convert/cli.ts DIR -o OUT.gguf --outtype i2_s   (prints time and peak RSS)

import { statSync } from "node:fs";
import { join } from "node:path";
import { BITNET_2B_CKPT_SHAPE, WEIGHT_FORMS, writeTestCheckpoint, type CkptArch, type WeightForm } from "../src/convert/test-checkpoints.ts";

function main(argv: string[]): void {
  const arg = (flag: string, dflt?: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  const out = arg("--out");
  if (out === undefined) throw new Error("--out DIR is required");
  const scale = Number(arg("--scale", "1"));
  if (!(scale > 0 && scale <= 1)) throw new Error("--scale must be in (0, 1]");
  const form = arg("--form", "latent") as WeightForm;
  if (!WEIGHT_FORMS.includes(form)) throw new Error(`--form must be one of ${WEIGHT_FORMS.join(", ")}`);
  const arch = arg("--arch", "bitnet-b1.58") as CkptArch;
  if (arch !== "bitnet" && arch !== "bitnet-b1.58") throw new Error("--arch must be bitnet or bitnet-b1.58");
  const shards = Number(arg("--shards", "2"));
  const seed = Number(arg("--seed", "1"));
  const shape = { ...BITNET_2B_CKPT_SHAPE, nLayers: Math.max(1, Math.round(BITNET_2B_CKPT_SHAPE.nLayers * scale)) };

  const t0 = performance.now();
  let n = 0;
  const ck = writeTestCheckpoint(out, {
    arch, form, seed, shape, shards, vocabRows: 128256,
    onTensor: (name) => {
      n++;
      if (process.stdout.isTTY) process.stdout.write(`\r${n} tensors, ${((performance.now() - t0) / 1000).toFixed(0)} s: ${name}`.padEnd(90));
    },
  });
  if (process.stdout.isTTY) process.stdout.write("\n");
  const bytes = ck.files.reduce((s, f) => s + statSync(join(out, f)).size, 0);
  console.log(
    `${out}: ${shape.nLayers} layers, ${form} ${arch}, ${ck.files.length} shard(s), ${(bytes / 2 ** 30).toFixed(2)} GiB ` +
      `in ${((performance.now() - t0) / 1000).toFixed(1)} s (peak RSS ${((process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(0)} MiB)`,
  );
}

if (import.meta.main) main(process.argv.slice(2));
