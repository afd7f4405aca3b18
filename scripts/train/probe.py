"""Associative-recall probe of an exported model (decode.recall_probe): the fraction of random
(key, value) token pairs recalled when the keys come again. Lookups need this mechanism (induction);
train.py logs the same figure at each evaluation.

  python3 scripts/train/probe.py HF_DIR [--trials 64]
HF_DIR is export.py's output, latent or --ternary weights.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode import recall_probe  # noqa: E402
from export import read_safetensors  # noqa: E402
from model import Config, Model  # noqa: E402


def load(hf_dir):
    c = json.load(open(os.path.join(hf_dir, "config.json")))
    cfg = Config(vocab_size=c["vocab_size"], dim=c["hidden_size"], n_layers=c["num_hidden_layers"], n_heads=c["num_attention_heads"],
                 n_kv_heads=c["num_key_value_heads"], ffn_dim=c["intermediate_size"], rms_eps=c["rms_norm_eps"], rope_theta=c["rope_theta"])
    state = {}
    for k, v in read_safetensors(os.path.join(hf_dir, "model.safetensors")).items():
        if k.endswith("_proj.weight") and len(torch.unique(v)) <= 3:
            # already ternary (codes * s): the latent weight codes * s / (nonzero fraction) ternarises back
            # to the same codes with mean|w| = s, the same model
            v = v / max((v != 0).float().mean().item(), 1e-9)
        state[k[len("model."):]] = v
    model = Model(cfg)
    model.load_state_dict(state)
    eos = c["eos_token_id"] if isinstance(c["eos_token_id"], list) else [c["eos_token_id"]]
    specials = [c["bos_token_id"], c["mask_token_id"], *eos]
    return model, c["bos_token_id"], max(specials) + 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("hf_dir")
    p.add_argument("--trials", type=int, default=64)
    a = p.parse_args()
    model, bos, lo = load(a.hf_dir)
    r = recall_probe(model, bos, lo, model.cfg.vocab_size, trials=a.trials)
    print(f"{a.hf_dir}: associative recall {r:.3f} ({a.trials} trials of 6 pairs; chance {1 / (model.cfg.vocab_size - lo):.4f})")


if __name__ == "__main__":
    main()
