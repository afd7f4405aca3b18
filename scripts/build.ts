// `bun run build`: the single-file executable dist/ternary-serve: the CLI, the engine worker, the chat
// page, both native libraries and (when present) the default model, for an x86-64 AVX2 baseline.
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const out = join(root, "dist", "ternary-serve");

export async function build(): Promise<string> {
  const libs = ["libternary.so", "libllama-shim.so"].map((l) => join(root, "build", "lib", l));
  for (const l of libs) if (!existsSync(l)) throw new Error(`${l} is missing: run npm run setup first`);
  const model = join(root, "models", "default.gguf");
  const entrypoints = [join(root, "src", "cli.ts"), join(root, "src", "engine", "worker.ts"), ...libs];
  if (existsSync(model)) entrypoints.push(model);
  else console.error("[build] models/default.gguf is not there: the executable will need --model");
  mkdirSync(join(root, "dist"), { recursive: true });
  rmSync(out, { force: true });
  const t0 = performance.now();
  const r = await Bun.build({
    entrypoints,
    root,
    minify: false,
    sourcemap: "none",
    // "modern" = x86-64-v3 (AVX2), the project's documented baseline; our kernels pick AVX-512/AMX at run time.
    compile: { target: "bun-linux-x64-modern", outfile: out },
  });
  if (!r.success) {
    for (const l of r.logs) console.error(l);
    throw new Error("bun build --compile failed");
  }
  console.error(`[build] ${out}: ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}

if (import.meta.main) {
  build().catch((e) => {
    console.error(`[build] error: ${e.message}`);
    process.exit(1);
  });
}
