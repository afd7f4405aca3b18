"""Exports a training checkpoint as a Hugging Face-style BitNet checkpoint directory:
model.safetensors (latent F32 weights, HF tensor names of microsoft/bitnet-b1.58-2B-4T), config.json,
generation_config.json, tokenizer.json, tokenizer_config.json. The converter ternarises the latent weights
(per-tensor absmean, as BitLinear does in training) when it writes I2_S / TQ2_0 / TQ1_0.

  python3 scripts/train/export.py RUN_DIR/ckpt.pt OUT_DIR [--data DATA_DIR] [--ternary]
--ternary writes the BitLinear weights already ternarised (codes * s, F32), which the converter keeps exactly:
the same model, and a file that compresses to about 2 bits a weight (for moving it off a training machine).
"""
import argparse
import json
import os
import shutil
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from data import BLOCK, SUB  # noqa: E402
from model import ternarise  # noqa: E402

DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


def write_safetensors(path, tensors, metadata=None):
    """The format: u64 little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}
    (offsets relative to the end of the header, padded with spaces to 8 bytes), then the raw
    little-endian tensor data in header order."""
    names = sorted(tensors)
    header, offset = {}, 0
    for n in names:
        t = tensors[n]
        size = t.numel() * t.element_size()
        header[n] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    assert sys.byteorder == "little"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for n in names:
            f.write(tensors[n].detach().contiguous().cpu().numpy().tobytes())


def read_safetensors(path):
    """Reads back what write_safetensors wrote (F32 only): the export's self-check."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            assert e["dtype"] == "F32"
            a, b = e["data_offsets"]
            f.seek(base + a)
            out[name] = torch.frombuffer(bytearray(f.read(b - a)), dtype=torch.float32).reshape(e["shape"])
        return out


def export(ckpt_path, out_dir, data_dir=None, ternary=False):
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # ours: holds numpy RNG state
    c, a = ck["config"], ck["args"]
    data_dir = data_dir or a["data"]
    info = json.load(open(os.path.join(data_dir, "info.json")))
    os.makedirs(out_dir, exist_ok=True)
    tensors = {"model." + k: v.float() for k, v in ck["model"].items()}
    if ternary:
        for k, v in tensors.items():
            if k.endswith("_proj.weight"):  # every BitLinear (the embedding and norms stay as they are)
                codes, s = ternarise(v)
                tensors[k] = codes * s
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, {"format": "pt"})
    back = read_safetensors(os.path.join(out_dir, "model.safetensors"))
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in back), "safetensors round trip"
    config = {
        "architectures": ["BitnetForCausalLM"],
        "model_type": "bitnet",
        "hidden_act": "relu2",
        "hidden_size": c["dim"],
        "intermediate_size": c["ffn_dim"],
        "num_hidden_layers": c["n_layers"],
        "num_attention_heads": c["n_heads"],
        "num_key_value_heads": c["n_kv_heads"],
        "head_dim": c["dim"] // c["n_heads"],
        "rms_norm_eps": c["rms_eps"],
        "rope_theta": c["rope_theta"],
        "rope_scaling": None,
        "max_position_embeddings": c["max_pos"],
        "vocab_size": c["vocab_size"],
        "tie_word_embeddings": True,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "bos_token_id": info["bos"],
        "eos_token_id": [info["eos"], info["eot"]],
        "mask_token_id": info["mask"],
        "dlm_attention": "block",
        "dlm_block_size": BLOCK,
        "dlm_sub_block_size": SUB,
        "torch_dtype": "float32",
        "use_cache": True,
        "training_step": ck["step"],
    }
    json.dump(config, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": info["bos"], "eos_token_id": [info["eos"], info["eot"]], "do_sample": False},
              open(os.path.join(out_dir, "generation_config.json"), "w"), indent=2)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(data_dir, f), os.path.join(out_dir, f))
    return config, tensors


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpt")
    p.add_argument("out")
    p.add_argument("--data", default=None, help="data directory with tokenizer files (default: the run's)")
    p.add_argument("--ternary", action="store_true", help="write BitLinear weights ternarised (codes * s)")
    a = p.parse_args()
    config, tensors = export(a.ckpt, a.out, a.data, a.ternary)
    n = sum(t.numel() for t in tensors.values())
    print(f"wrote {a.out}: {len(tensors)} tensors, {n / 1e6:.2f} M parameters, step {config['training_step']}")


if __name__ == "__main__":
    main()
