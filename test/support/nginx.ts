// Runs Debian's nginx with the shipped deploy/nginx/ternary.conf as the current user, in a temp prefix on
// loopback: renders the file with the test's replica addresses, listen port and log directory, checks it
// with `nginx -t`, and starts and stops nginx in the foreground.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const NGINX = "/usr/sbin/nginx";
export const SHIPPED_CONF = join(import.meta.dir, "..", "..", "deploy", "nginx", "ternary.conf");

/** Fails with the fix spelled out when Debian's nginx is not installed. */
export function requireNginx(): void {
  if (!existsSync(NGINX)) {
    throw new Error(
      `${NGINX} is missing: this test drives Debian's nginx. Install it with \`apt-get install -y nginx\` ` +
        "(`npm test` installs it itself when run as root).",
    );
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", ok));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

/** Replaces every match of `re` by `to(i)` and insists on exactly `count` matches. */
function substitute(text: string, re: RegExp, count: number, what: string, to: (i: number, m: string[]) => string): string {
  let i = 0;
  const out = text.replace(re, (...m: string[]) => to(i++, m));
  if (i !== count) throw new Error(`deploy/nginx/ternary.conf: expected ${count} ${what}, found ${i}; update test/support/nginx.ts`);
  return out;
}

/**
 * The shipped file with only three things changed: the upstream `server` addresses, the `listen` port
 * (bound to 127.0.0.1) and /var/log/nginx/ (the temp dir). Everything else is tested verbatim.
 */
export function renderShippedConf(upstreams: string[], listenPort: number, logDir: string): string {
  let text = readFileSync(SHIPPED_CONF, "utf8");
  text = substitute(text, /^(\s*server\s+)127\.0\.0\.1:\d+(\s)/gm, upstreams.length, "upstream server lines", (i, m) => `${m[1]}${upstreams[i]}${m[2]}`);
  text = substitute(text, /^(\s*listen\s+)8080;/gm, 1, "`listen 8080;` lines", (_, m) => `${m[1]}127.0.0.1:${listenPort};`);
  const logs = text.split("/var/log/nginx/").length - 1;
  if (logs < 1) throw new Error("deploy/nginx/ternary.conf: expected an access_log under /var/log/nginx/");
  return text.replaceAll("/var/log/nginx/", `${logDir}/`);
}

export interface NginxFiles {
  dir: string;
  conf: string;
  errorLog: string;
  accessLog: string;
}

/**
 * Writes a top-level nginx.conf in `dir` (foreground, one worker, pid/temp/log files inside `dir`) that
 * includes the rendered ternary.conf, as Debian's /etc/nginx/nginx.conf includes conf.d/*.conf.
 */
export function writeNginxFiles(dir: string, upstreams: string[], listenPort: number): NginxFiles {
  mkdirSync(join(dir, "temp"), { recursive: true });
  writeFileSync(join(dir, "ternary.conf"), renderShippedConf(upstreams, listenPort, dir));
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const temp = (k: string) => `  ${k}_temp_path ${join(dir, "temp", k)};`;
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    [
      // Workers run as whoever runs the test (as root, nginx would otherwise switch them to `nobody`).
      asRoot ? "user root;" : "",
      "daemon off;",
      "worker_processes 1;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "error.log")} warn;`,
      "events { worker_connections 512; }",
      "http {",
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(temp),
      `  include ${join(dir, "ternary.conf")};`,
      "}",
      "",
    ].join("\n"),
  );
  return { dir, conf, errorLog: join(dir, "error.log"), accessLog: join(dir, "ternary-access.log") };
}

const args = (f: NginxFiles) => ["-p", `${f.dir}/`, "-c", f.conf, "-e", f.errorLog];

/** `nginx -t` on the files: exit code and what it printed. */
export function nginxTest(f: NginxFiles): { code: number; output: string } {
  const r = Bun.spawnSync([NGINX, "-t", ...args(f)], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, output: r.stdout.toString() + r.stderr.toString() };
}

export interface RunningNginx {
  url: string;
  proc: Subprocess;
  files: NginxFiles;
  stop(): Promise<void>;
}

/** Starts nginx and waits until a request through it reaches a replica (GET /health → 200). */
export async function startNginx(f: NginxFiles, listenPort: number, timeoutMs = 10_000): Promise<RunningNginx> {
  const proc = Bun.spawn([NGINX, ...args(f)], { stdout: "pipe", stderr: "pipe" });
  const url = `http://127.0.0.1:${listenPort}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}:\n${existsSync(f.errorLog) ? readFileSync(f.errorLog, "utf8") : ""}`);
    const r = await fetch(`${url}/health`).catch(() => null);
    if (r?.status === 200) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`nginx did not proxy /health within ${timeoutMs} ms`);
    }
    await Bun.sleep(50);
  }
  return {
    url,
    proc,
    files: f,
    async stop() {
      proc.kill("SIGQUIT"); // graceful: finish open requests, then exit
      const code = await Promise.race([proc.exited, Bun.sleep(5_000).then(() => null)]);
      if (code === null) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
    },
  };
}

/** One parsed line of the `ternary` access-log format, keyed by request id. */
export interface AccessEntry {
  status: number;
  rid: string;
  upstreams: string[];
  upstreamStatus: string[];
}

export function readAccessLog(path: string): Map<string, AccessEntry> {
  const out = new Map<string, AccessEntry>();
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = line.match(/" (\d{3}) \d+ rid="([^"]*)" upstream="([^"]*)" upstream_status="([^"]*)"/);
    if (!m) continue;
    // Several tries read "A, B"; tries in another upstream group (after an internal redirect) "A : B".
    const list = (s: string) => s.split(/\s*,\s*|\s+:\s+/).filter(Boolean);
    out.set(m[2], { status: Number(m[1]), rid: m[2], upstreams: list(m[3]), upstreamStatus: list(m[4]) });
  }
  return out;
}
