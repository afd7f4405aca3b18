// A Hugging Face checkpoint directory as one set of named tensors: model.safetensors, or the shards
// that model.safetensors.index.json lists, or every *.safetensors file; plus JSON file loading.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ConvertError, fail } from "./errors.ts";
import { openSafetensors, type StTensor } from "./safetensors.ts";

export interface CheckpointTensors {
  dir: string;
  /** Every tensor of every file, by name. */
  tensors: Map<string, StTensor>;
  files: string[];
}

/** Reads a JSON file of the checkpoint; undefined when it is absent and not `required`. */
export function readJson(dir: string, name: string, required: true): Record<string, unknown>;
export function readJson(dir: string, name: string, required?: boolean): Record<string, unknown> | undefined;
export function readJson(dir: string, name: string, required = false): Record<string, unknown> | undefined {
  const path = join(dir, name);
  if (!existsSync(path)) {
    if (required) fail(`${path}: not found (a Hugging Face checkpoint directory needs ${name})`);
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConvertError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`${path}: not a JSON object`);
  return value as Record<string, unknown>;
}

export function openCheckpointTensors(dir: string): CheckpointTensors {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`${dir}: not a directory`);
  const index = readJson(dir, "model.safetensors.index.json");
  let files: string[];
  let weightMap: Record<string, unknown> | undefined;
  if (index !== undefined) {
    const wm = index.weight_map;
    if (typeof wm !== "object" || wm === null || Array.isArray(wm)) fail(`${join(dir, "model.safetensors.index.json")}: no weight_map object`);
    weightMap = wm as Record<string, unknown>;
    const names = new Set<string>();
    for (const [t, f] of Object.entries(weightMap)) {
      // A shard name is a plain file name inside the checkpoint: never a path that escapes it.
      if (typeof f !== "string" || f.length === 0 || f !== basename(f)) fail(`model.safetensors.index.json: tensor "${t}" maps to ${JSON.stringify(f)}, not a file name`);
      names.add(f);
    }
    files = [...names].sort();
  } else {
    files = readdirSync(dir).filter((f) => f.endsWith(".safetensors")).sort();
    if (files.length === 0) {
      const other = readdirSync(dir).filter((f) => /\.(bin|pt|pth|ckpt)$/.test(f));
      fail(`${dir}: no *.safetensors files${other.length > 0 ? ` (found ${other.join(", ")}: PyTorch pickles are not supported, save as safetensors)` : ""}`);
    }
  }
  const tensors = new Map<string, StTensor>();
  for (const f of files) {
    const path = join(dir, f);
    if (!existsSync(path)) fail(`${path}: listed in model.safetensors.index.json but missing`);
    for (const t of openSafetensors(path).tensors) {
      const prev = tensors.get(t.name);
      if (prev) fail(`tensor "${t.name}" is in both ${basename(prev.file)} and ${f}`);
      if (weightMap !== undefined && weightMap[t.name] !== f) {
        fail(`tensor "${t.name}" is in ${f} but model.safetensors.index.json puts it in ${JSON.stringify(weightMap[t.name] ?? "no file")}`);
      }
      tensors.set(t.name, t);
    }
  }
  if (weightMap !== undefined) {
    for (const [t, f] of Object.entries(weightMap)) if (!tensors.has(t)) fail(`tensor "${t}" is listed in model.safetensors.index.json for ${f} but not in that file`);
  }
  return { dir, tensors, files };
}
