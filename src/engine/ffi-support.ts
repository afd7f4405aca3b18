// What both bun:ffi tables need besides their symbols: finding a native library (env override, the
// executable's embedded copy, the checkout's build/lib) and TERNARY_TRACE_FFI call tracing.
import { join, resolve } from "node:path";
import { embeddedPath } from "./embedded.ts";

const REPO_ROOT = resolve(import.meta.dir, "../..");

/** `$envVar`, else the executable's embedded `<stem>.so`, else `build/lib/<stem>.so` in the checkout. */
export function locateNativeLib(stem: string, envVar: string, env: Record<string, string | undefined>): string {
  const override = env[envVar];
  if (override) return resolve(override);
  return embeddedPath(stem, ".so") ?? join(REPO_ROOT, "build", "lib", `${stem}.so`);
}

function describeArg(a: unknown): string {
  if (ArrayBuffer.isView(a)) return `${a.constructor.name}(${(a as { length?: number }).length ?? a.byteLength})`;
  if (typeof a === "string") return JSON.stringify(a.length > 40 ? `${a.slice(0, 40)}…` : a);
  return String(a);
}

/** Wraps every symbol so each call is logged to stderr with its arguments, result and time. */
export function traced<T extends object>(raw: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(raw) as [string, (...args: unknown[]) => unknown][]) {
    out[name] = (...args: unknown[]) => {
      const t0 = performance.now();
      const result = fn(...args);
      const us = ((performance.now() - t0) * 1000).toFixed(0);
      console.error(`[ffi] ${name}(${args.map(describeArg).join(", ")}) -> ${describeArg(result)} ${us}us`);
      return result;
    };
  }
  return out as T;
}
