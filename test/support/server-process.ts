// Starts the real server (`bun src/cli.ts serve`) as a child process on a free port for end-to-end
// tests, waits until /ready says the model is loaded, and stops it (SIGTERM) afterwards.
import { join } from "node:path";
import type { Subprocess } from "bun";

const root = join(import.meta.dir, "..", "..");

export interface RunningServer {
  url: string;
  proc: Subprocess;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  stop(): Promise<number>;
}

export async function startServer(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<RunningServer> {
  const proc = Bun.spawn([process.execPath, join(root, "src", "cli.ts"), "serve", "--port", "0", ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let log = "";
  let url: string | null = null;
  const gotUrl = new Promise<string>((resolve, reject) => {
    (async () => {
      const dec = new TextDecoder();
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
        log += dec.decode(chunk, { stream: true });
        const m = log.match(/listening on (http:\/\/[^\s]+)/);
        if (m && !url) {
          url = m[1];
          resolve(url);
        }
      }
      if (!url) reject(new Error(`server exited before listening:\n${log}`));
    })().catch(reject);
  });
  const deadline = Date.now() + timeoutMs;
  const base = await Promise.race([gotUrl, Bun.sleep(timeoutMs).then(() => Promise.reject(new Error(`server did not start:\n${log}`)))]);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${log}`);
    const r = await fetch(`${base}/ready`).catch(() => null);
    if (r?.status === 200) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`server not ready after ${timeoutMs} ms:\n${log}`);
    }
    await Bun.sleep(50);
  }
  return {
    url: base,
    proc,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      const code = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => -1)]);
      if (code === -1) proc.kill("SIGKILL");
      return code;
    },
  };
}
