#!/usr/bin/env node
// Bootstrap: the one file that runs under plain Node.js. It installs the npm packages (Bun among them)
// when they are missing or stale, runs the cached native build, then hands the command over to Bun.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bun = join(root, "node_modules", ".bin", "bun");
const stampPath = join(root, "node_modules", ".ternary-install-stamp");

function say(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.error) {
    say(`could not run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  return r.status ?? 1;
}

/** npm packages: reinstalled only when package-lock.json changed since the last install. */
function ensurePackages() {
  const lock = readFileSync(join(root, "package-lock.json"));
  const want = createHash("sha256").update(lock).digest("hex");
  if (existsSync(bun) && existsSync(stampPath) && readFileSync(stampPath, "utf8") === want) return;
  say("installing npm packages (Bun, hono, zod, ...) with npm ci");
  const status = run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=http"]);
  if (status !== 0 || !existsSync(bun)) {
    say("npm ci failed: see the messages above (the npm registry must be reachable)");
    process.exit(status || 1);
  }
  writeFileSync(stampPath, want);
}

/** Native build (llama.cpp, the shim, libternary): cached, a no-op in well under a second when fresh. */
function ensureNative(extra = []) {
  const status = run(bun, [join(root, "scripts", "setup.ts"), "--if-needed", ...extra]);
  if (status !== 0) process.exit(status);
}

/**
 * Debian packages the test suite drives (a real browser for the chat page, nginx for the scale-out test). Installed
 * with apt when missing and we are root; otherwise a clear message, and the tests needing them fail.
 */
const TEST_PACKAGES = ["chromium", "nginx"];

function ensureDebianPackages(pkgs) {
  const missing = pkgs.filter((p) => spawnSync("dpkg", ["-s", p], { stdio: "ignore" }).status !== 0);
  if (missing.length === 0) return;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (!root || spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status !== 0) {
    say(`missing Debian packages ${missing.join(", ")}: install them (apt-get install ${missing.join(" ")}); tests that need them will fail`);
    return;
  }
  say(`installing Debian packages for the tests: ${missing.join(", ")}`);
  run("apt-get", ["update", "-qq"], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  const status = run("apt-get", ["install", "-y", "-qq", ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (status !== 0) say(`apt-get install ${missing.join(" ")} failed; tests that need them will fail`);
}

const [command, ...args] = process.argv.slice(2);
ensurePackages();

switch (command) {
  case "setup":
    process.exit(run(bun, [join(root, "scripts", "setup.ts"), ...args]));
  case "test":
    ensureNative();
    ensureDebianPackages(TEST_PACKAGES);
    // Integration tests load models and start servers: a generous per-test timeout (bun's is 5 s).
    process.exit(run(bun, ["test", "--timeout", "180000", ...(args.length ? args : ["./src", "./test", "./scripts"])]));
  case "typecheck":
    process.exit(run(join(root, "node_modules", ".bin", "tsc"), ["-p", root]));
  case "fixtures":
    ensureNative();
    process.exit(run(bun, [join(root, "scripts", "fixtures.ts"), ...args]));
  case "build":
    ensureNative();
    process.exit(run(bun, [join(root, "scripts", "build.ts"), ...args]));
  case "eval":
    ensureNative();
    process.exit(run(bun, [join(root, "src", "bench", "eval.ts"), ...args]));
  case "bench":
    ensureNative(["--features", "native,llama,tools"]);
    process.exit(run(bun, [join(root, "src", "bench", "bench.ts"), ...args]));
  case "serve":
  case "convert":
    ensureNative();
    process.exit(run(bun, [join(root, "src", "cli.ts"), command, ...args]));
  default:
    say(`unknown command ${JSON.stringify(command)}; expected setup | serve | test | bench | convert | build`);
    process.exit(2);
}
