// GGUF → GGUF transcoding of ternary tensors (I2_S ↔ TQ2_0 ↔ TQ1_0), streamed tensor by tensor.
// Lossless for ternary weights: the codes are copied and every block carries the tensor's scale.
import { transcodeTernary, type TernaryType, isTernaryType } from "../gguf/quants.ts";
import type { GgufFile } from "../gguf/reader.ts";
import { GgmlType, GgufType, ggmlTypeName } from "../gguf/types.ts";
import { GgufWriter } from "../gguf/writer.ts";

/** Writes `file` to `outPath` with every ternary tensor in `to`; other tensors are copied as they are. */
export function transcodeGguf(file: GgufFile, to: TernaryType, outPath: string, onTensor?: (i: number, n: number) => void): void {
  const w = new GgufWriter();
  // general.alignment is re-declared by the writer when it differs from the default.
  w.setAll([...file.metadata].filter(([k]) => k !== "general.alignment" && k !== "general.file_type"));
  w.set("general.file_type", { type: GgufType.UINT32, value: fileTypeOf(to) });
  const plan = file.tensors.map((t) => ({ t, type: isTernaryType(t.type) ? to : (t.type as GgmlType) }));
  for (const p of plan) w.addTensor(p.t.name, p.type, p.t.shape);
  const out = w.openStream(outPath);
  try {
    plan.forEach((p, i) => {
      const data = p.t.data();
      out.writeTensor(p.t.name, isTernaryType(p.t.type) && p.t.type !== to ? transcodeTernary(p.t.type, data, to, p.t.nElements) : data);
      onTensor?.(i + 1, plan.length);
    });
    out.close();
  } catch (e) {
    out.abort();
    throw e;
  }
}

/** llama.cpp's `llama_ftype` for an all-ternary file (MOSTLY_TQ1_0 = 36, MOSTLY_TQ2_0 = 37). */
function fileTypeOf(t: TernaryType): number {
  if (t === GgmlType.TQ1_0) return 36;
  if (t === GgmlType.TQ2_0) return 37;
  // Microsoft's fork numbers its I2_S file type 40; upstream has none.
  if (t === GgmlType.I2_S) return 40;
  throw new Error(`no file type for ${ggmlTypeName(t)}`);
}
