# Test helper (not part of the product): dumps a GGUF file's metadata and tensor infos as JSON
# using llama.cpp's own gguf-py reader, so the TypeScript reader can be checked against it.
#
# usage: python3 scripts/gguf-py-dump.py LLAMA_CPP_DIR FILE.gguf > out.json

import hashlib
import json
import math
import sys

llama_dir, path = sys.argv[1], sys.argv[2]
sys.path.insert(0, f"{llama_dir}/gguf-py")

import numpy as np  # noqa: E402

# gguf-py reads through np.memmap and slices it once per string, which takes over 10 s for a
# 128k-token vocabulary; an in-memory array behaves identically for reading and is ~3x faster.
np.memmap = lambda p, mode="r", **_: np.fromfile(p, dtype=np.uint8)  # type: ignore

from gguf import GGUFReader  # noqa: E402


def plain(v):
    """JSON-safe value: non-finite floats and integers beyond 2^53 become tagged objects."""
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, bool):
        return v
    if isinstance(v, float) and not math.isfinite(v):
        return {"nonfinite": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    if isinstance(v, int) and abs(v) > 2**53 - 1:
        return {"bigint": str(v)}
    return v


reader = GGUFReader(path)
kv = []
for key, field in reader.fields.items():
    if key.startswith("GGUF."):
        continue
    kv.append({"key": key, "types": [int(t) for t in field.types], "value": plain(field.contents())})

tensors = []
for t in reader.tensors:
    tensors.append({
        "name": t.name,
        "type": int(t.tensor_type),
        "shape": [int(d) for d in t.shape],
        "n_elements": int(t.n_elements),
        "n_bytes": int(t.n_bytes),
        "offset": int(t.data_offset),
        "sha256": hashlib.sha256(np.ascontiguousarray(t.data).view(np.uint8).tobytes()).hexdigest(),
    })

json.dump({
    "version": int(reader.fields["GGUF.version"].contents()),
    "alignment": int(reader.alignment),
    "data_offset": int(reader.data_offset),
    "kv": kv,
    "tensors": tensors,
}, sys.stdout, allow_nan=False)
