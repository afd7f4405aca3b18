// Files embedded in the single-file executable (`bun run build`): native libraries, the default model.
// Outside an executable there are none, and callers fall back to the files in the checkout.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** True when running from a `bun build --compile` executable. */
export const compiled = import.meta.url.includes("$bunfs");

/**
 * The embedded file whose base name matches `stem` + `ext` (Bun adds a content hash: `libternary-ab12.so`),
 * as a path into the executable's own file system, or null.
 */
export function embeddedPath(stem: string, ext: string): string | null {
  const re = new RegExp(`(^|/)${stem.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(-[a-z0-9]+)?${ext.replace(".", "\\.")}$`);
  for (const f of Bun.embeddedFiles as (Blob & { name: string })[]) {
    if (re.test(f.name)) return `/$bunfs/root/${f.name}`;
  }
  return null;
}

/**
 * Copies an embedded file out to a real file (once per content), for consumers that need one: a model
 * is memory-mapped by the engines, which cannot map the executable's virtual files. dlopen needs no copy.
 */
export async function extractEmbedded(path: string, name: string): Promise<string> {
  const blob = Bun.file(path);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const dir = join(process.env.TERNARY_CACHE_DIR ?? join(tmpdir(), "ternary-serve"), "embedded", hash);
  const out = join(dir, name);
  if (existsSync(out) && statSync(out).size === bytes.length) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  await Bun.write(tmp, bytes);
  renameSync(tmp, out);
  return out;
}
