// Setup: builds everything native the project needs, cached outside the clone by content hash.
// llama.cpp comes from node-llama-cpp@3.21.1's git bundle (sha256-checked) plus our patches in extern/patches.
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "..");
const LLAMA_NPM = "node-llama-cpp@3.21.1";
const LLAMA_TGZ = "node-llama-cpp-3.21.1.tgz";
const LLAMA_BUNDLE_SHA256 = "9336d8aab8f8e6a8919380f3641fe92e57b02fb55df1b6bd083b82491a6293b8";

/**
 * The shipped x86-64 baseline: AVX2 + FMA + F16C + BMI2 (x86-64-v3). Nothing that ships uses -march=native:
 * our own kernels pick AVX-512 / AMX at run time, llama.cpp is built for this baseline.
 */
const LLAMA_FLAGS = [
  "-DCMAKE_BUILD_TYPE=Release",
  "-DBUILD_SHARED_LIBS=OFF",
  "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
  "-DGGML_OPENMP=OFF",
  "-DGGML_NATIVE=OFF",
  "-DGGML_AVX=ON",
  "-DGGML_AVX2=ON",
  "-DGGML_FMA=ON",
  "-DGGML_F16C=ON",
  "-DGGML_BMI2=ON",
  "-DLLAMA_OPENSSL=OFF",
  "-DLLAMA_CURL=OFF",
  "-DLLAMA_BUILD_COMMON=OFF",
  "-DLLAMA_BUILD_TESTS=OFF",
  "-DLLAMA_BUILD_TOOLS=OFF",
  "-DLLAMA_BUILD_EXAMPLES=OFF",
  "-DLLAMA_BUILD_SERVER=OFF",
  "-DLLAMA_BUILD_APP=OFF",
];

/**
 * llama.cpp's own tools (llama-bench, llama-simple, ...) for side-by-side benchmarks and cross-checks.
 * Never shipped, so they are built for this machine (-march=native): the fairest opponent.
 */
const TOOLS_FLAGS = [
  "-DCMAKE_BUILD_TYPE=Release",
  "-DBUILD_SHARED_LIBS=OFF",
  "-DGGML_OPENMP=OFF",
  "-DGGML_NATIVE=ON",
  "-DLLAMA_OPENSSL=OFF",
  "-DLLAMA_CURL=OFF",
  "-DLLAMA_BUILD_COMMON=ON",
  "-DLLAMA_BUILD_TESTS=OFF",
  "-DLLAMA_BUILD_TOOLS=ON",
  "-DLLAMA_BUILD_EXAMPLES=ON",
  "-DLLAMA_BUILD_SERVER=OFF",
  "-DLLAMA_BUILD_APP=OFF",
];
const TOOLS_TARGETS = ["llama-bench", "llama-simple", "llama-tokenize", "llama-gguf", "llama-perplexity"];

type Feature = "native" | "llama" | "tools";
const ALL_FEATURES: Feature[] = ["native", "llama", "tools"];
const DEFAULT_FEATURES: Feature[] = ["native", "llama"];

interface Options {
  features: Feature[];
  ifNeeded: boolean;
  force: boolean;
  jobs: number;
}

export class SetupError extends Error {}

function usage(): string {
  return [
    "usage: bun scripts/setup.ts [--features native,llama,tools] [--force] [--jobs N] [--if-needed]",
    "  native  our ternary kernel library (build/lib/libternary.so)",
    "  llama   llama.cpp (static, AVX2 baseline) + our shim (build/lib/libllama-shim.so)",
    "  tools   llama.cpp's own tools built for this CPU, for benchmarks (build/tools/)",
    "Builds are cached in $TERNARY_CACHE_DIR (default ~/.cache/ternary-serve), keyed by source hash and flags.",
  ].join("\n");
}

function parseArgs(argv: string[]): Options {
  const o: Options = { features: [...DEFAULT_FEATURES], ifNeeded: false, force: false, jobs: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new SetupError(`${a} needs a value\n${usage()}`);
      return v;
    };
    if (a === "--features") {
      const list = value().split(",").map((s) => s.trim()).filter(Boolean);
      for (const f of list) {
        if (!ALL_FEATURES.includes(f as Feature)) throw new SetupError(`unknown feature "${f}" (known: ${ALL_FEATURES.join(", ")})`);
      }
      o.features = list as Feature[];
    } else if (a === "--if-needed") o.ifNeeded = true;
    else if (a === "--force") o.force = true;
    else if (a === "--jobs") {
      o.jobs = Number(value());
      if (!Number.isInteger(o.jobs) || o.jobs < 1) throw new SetupError("--jobs needs a positive integer");
    } else if (a === "--help" || a === "-h") {
      console.log(usage());
      process.exit(0);
    } else throw new SetupError(`unknown option ${a}\n${usage()}`);
  }
  return o;
}

// ───────────────────────────── helpers ─────────────────────────────

const t0 = performance.now();
function say(msg: string): void {
  console.error(`[setup ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
}

function sh(cmd: string[], opts: { cwd?: string; capture?: boolean } = {}): string {
  const r = Bun.spawnSync(cmd, {
    cwd: opts.cwd ?? root,
    stdout: opts.capture ? "pipe" : "inherit",
    stderr: opts.capture ? "pipe" : "inherit",
    env: process.env,
  });
  if (!r.success) {
    const detail = opts.capture ? `\n${r.stderr?.toString() ?? ""}${r.stdout?.toString() ?? ""}`.trimEnd() : "";
    throw new SetupError(`command failed (exit ${r.exitCode}): ${cmd.join(" ")}${detail}`);
  }
  return opts.capture ? (r.stdout?.toString() ?? "") : "";
}

function hashFiles(dir: string, h = createHash("sha256")): ReturnType<typeof createHash> {
  if (!existsSync(dir)) return h;
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(relative(dir, p)).update("\0").update(readFileSync(p)).update("\0");
    }
  };
  walk(dir);
  return h;
}

function key(...parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex").slice(0, 16);
}

function requireTool(name: string, hint: string): string {
  const p = Bun.which(name);
  if (!p) throw new SetupError(`setup needs ${name}, which is not installed: ${hint}`);
  return p;
}

function compilerId(): string {
  return sh(["c++", "--version"], { capture: true }).split("\n")[0] ?? "";
}

/** Copies a built file into build/ atomically (a running server keeps its mapped old copy). */
function publish(src: string, dst: string): void {
  mkdirSync(join(dst, ".."), { recursive: true });
  if (existsSync(dst)) {
    const a = readFileSync(src), b = readFileSync(dst);
    if (a.equals(b)) return;
  }
  const tmp = `${dst}.tmp-${process.pid}`;
  copyFileSync(src, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, dst);
  say(`installed ${relative(root, dst)}`);
}

function cmakeBuild(name: string, src: string, dir: string, flags: string[], targets: string[], jobs: number): void {
  const ninja = Bun.which("ninja");
  const gen = ninja ? ["-G", "Ninja"] : [];
  if (!existsSync(join(dir, "CMakeCache.txt"))) {
    say(`${name}: configuring (cmake)`);
    sh(["cmake", "-S", src, "-B", dir, ...gen, ...flags], { capture: true });
  }
  say(`${name}: compiling${targets.length ? ` ${targets.join(" ")}` : ""} (progress below)`);
  const j = jobs > 0 ? ["-j", String(jobs)] : [];
  sh(["cmake", "--build", dir, ...j, ...(targets.length ? ["--target", ...targets] : [])]);
}

// ───────────────────────────── steps ─────────────────────────────

export const cacheDir =
  process.env.TERNARY_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "ternary-serve");
const llamaSrc = join(root, "extern", "llama.cpp");
const patchesDir = join(root, "extern", "patches");

/** The llama.cpp bundle from npm, verified. Returns its path. */
function fetchBundle(): string {
  const dl = join(cacheDir, "downloads");
  mkdirSync(dl, { recursive: true });
  const bundle = join(dl, `llama.cpp-${LLAMA_BUNDLE_SHA256.slice(0, 16)}.bundle`);
  if (existsSync(bundle)) return bundle;
  const tgz = join(dl, LLAMA_TGZ);
  if (!existsSync(tgz)) {
    requireTool("npm", "install Node.js with npm");
    say(`fetching ${LLAMA_NPM} from the npm registry (35 MB, for its llama.cpp source bundle)`);
    sh(["npm", "pack", LLAMA_NPM, "--pack-destination", dl, "--silent"], { capture: true });
  }
  const tmp = join(dl, `x-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  sh(["tar", "xzf", tgz, "-C", tmp, "package/llama/gitRelease.bundle"]);
  const got = createHash("sha256").update(readFileSync(join(tmp, "package/llama/gitRelease.bundle"))).digest("hex");
  if (got !== LLAMA_BUNDLE_SHA256) {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(tgz, { force: true });
    throw new SetupError(`llama.cpp bundle sha256 mismatch: expected ${LLAMA_BUNDLE_SHA256}, got ${got}`);
  }
  renameSync(join(tmp, "package/llama/gitRelease.bundle"), bundle);
  rmSync(tmp, { recursive: true, force: true });
  return bundle;
}

function patchFiles(): string[] {
  if (!existsSync(patchesDir)) return [];
  return readdirSync(patchesDir).filter((f) => f.endsWith(".patch")).sort().map((f) => join(patchesDir, f));
}

/** extern/llama.cpp = the bundle + our patches. Returns the source hash (bundle + patches). */
function ensureLlamaSource(force: boolean): string {
  const patches = patchFiles();
  const srcKey = key(LLAMA_BUNDLE_SHA256, ...patches.map((p) => readFileSync(p, "utf8")));
  const stamp = join(llamaSrc, ".ternary-source");
  if (!force && existsSync(stamp) && readFileSync(stamp, "utf8") === srcKey) return srcKey;
  requireTool("git", "apt-get install git");
  const bundle = fetchBundle();
  say(`extracting llama.cpp into extern/llama.cpp`);
  rmSync(llamaSrc, { recursive: true, force: true });
  sh(["git", "clone", "--quiet", bundle, llamaSrc], { capture: true });
  for (const p of patches) {
    say(`applying ${relative(root, p)}`);
    sh(["git", "-C", llamaSrc, "apply", "--whitespace=nowarn", p], { capture: true });
  }
  writeFileSync(stamp, srcKey);
  return srcKey;
}

function ensureLlamaLibs(srcKey: string, o: Options): string {
  const dir = join(cacheDir, "llama", key(srcKey, compilerId(), ...LLAMA_FLAGS));
  const ok = join(dir, ".ternary-ok");
  if (!o.force && existsSync(ok)) return dir;
  if (o.force) rmSync(dir, { recursive: true, force: true });
  cmakeBuild("llama.cpp (static, AVX2 baseline)", llamaSrc, dir, LLAMA_FLAGS, ["llama", "ggml"], o.jobs);
  writeFileSync(ok, new Date().toISOString());
  return dir;
}

function ensureShim(srcKey: string, llamaDir: string, o: Options): void {
  const shimSrc = join(root, "cpp", "llama-shim");
  if (!existsSync(join(shimSrc, "CMakeLists.txt"))) {
    say("llama shim: cpp/llama-shim has no CMakeLists.txt yet, skipped");
    return;
  }
  const flags = ["-DCMAKE_BUILD_TYPE=Release", `-DLLAMA_SRC_DIR=${llamaSrc}`, `-DLLAMA_BUILD_DIR=${llamaDir}`];
  const dir = join(cacheDir, "shim", key(srcKey, llamaDir, hashFiles(shimSrc).digest("hex"), compilerId()));
  const ok = join(dir, ".ternary-ok");
  if (o.force || !existsSync(ok)) {
    rmSync(dir, { recursive: true, force: true });
    cmakeBuild("llama shim", shimSrc, dir, flags, ["llama-shim"], o.jobs);
    writeFileSync(ok, new Date().toISOString());
  }
  publish(join(dir, "libllama-shim.so"), join(root, "build", "lib", "libllama-shim.so"));
}

function ensureTernary(o: Options): void {
  const src = join(root, "cpp", "ternary");
  if (!existsSync(join(src, "CMakeLists.txt"))) throw new SetupError("cpp/ternary/CMakeLists.txt is missing");
  const flags = ["-DCMAKE_BUILD_TYPE=Release"];
  const dir = join(cacheDir, "ternary", key(hashFiles(src).digest("hex"), compilerId(), ...flags));
  const ok = join(dir, ".ternary-ok");
  if (o.force || !existsSync(ok)) {
    rmSync(dir, { recursive: true, force: true });
    cmakeBuild("libternary", src, dir, flags, [], o.jobs);
    writeFileSync(ok, new Date().toISOString());
  }
  publish(join(dir, "libternary.so"), join(root, "build", "lib", "libternary.so"));
  for (const t of ["ternary-tests", "ternary-tests-amxemu", "ternary-bench"]) {
    if (existsSync(join(dir, t))) publish(join(dir, t), join(root, "build", "bin", t));
  }
}

function ensureTools(srcKey: string, o: Options): void {
  const cpu = readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
  const dir = join(cacheDir, "llama-tools", key(srcKey, compilerId(), cpu, ...TOOLS_FLAGS));
  const ok = join(dir, ".ternary-ok");
  if (o.force || !existsSync(ok)) {
    rmSync(dir, { recursive: true, force: true });
    cmakeBuild("llama.cpp tools (native, for benchmarks)", llamaSrc, dir, TOOLS_FLAGS, TOOLS_TARGETS, o.jobs);
    writeFileSync(ok, new Date().toISOString());
  }
  for (const t of TOOLS_TARGETS) publish(join(dir, "bin", t), join(root, "build", "tools", t));
}

export function setup(argv: string[]): void {
  const o = parseArgs(argv);
  requireTool("cmake", "apt-get install cmake");
  requireTool("c++", "apt-get install g++");
  if (!Bun.which("ninja")) requireTool("make", "apt-get install ninja-build (or make)");
  mkdirSync(cacheDir, { recursive: true });
  if (!o.ifNeeded) say(`cache: ${cacheDir}; features: ${o.features.join(",")}`);
  if (o.features.includes("native")) ensureTernary(o);
  if (o.features.includes("llama") || o.features.includes("tools")) {
    const srcKey = ensureLlamaSource(o.force);
    if (o.features.includes("llama")) ensureShim(srcKey, ensureLlamaLibs(srcKey, o), o);
    if (o.features.includes("tools")) ensureTools(srcKey, o);
  }
  if (!o.ifNeeded) say("done");
}

if (import.meta.main) {
  try {
    setup(process.argv.slice(2));
  } catch (e) {
    if (e instanceof SetupError) {
      console.error(`[setup] error: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
}
