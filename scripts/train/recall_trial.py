"""Can this training stack learn associative recall at all? Trains a small model on the recall probe's
task alone (decode.recall_probe: BOS, 6 random (key, value) token pairs, the same pairs in another order;
loss on the second half's values) and prints the recall every 500 steps, with BitLinear as trained for
the default model or (--float) plain float linears.

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/train/recall_trial.py [--float] [--steps 5000]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
from decode import recall_sequence  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--float", action="store_true", help="float linears instead of BitLinear")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    a = p.parse_args()
    if a.float:
        M.BitLinear.forward = lambda self, x: F.linear(x, self.weight)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    V, P, B = 300, 6, 64  # vocabulary, pairs, sequences per step
    m = M.Model(M.Config(vocab_size=V, dim=a.dim, n_layers=a.layers, n_heads=4, n_kv_heads=4, ffn_dim=2 * a.dim))
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.0)
    L, first = 1 + 4 * P, 1 + 2 * P
    pos = torch.arange(L)[None].expand(B, L)
    allowed = torch.ones(L, L, dtype=torch.bool).tril()[None].expand(B, L, L)
    q = torch.arange(first, L, 2)  # the second half's keys: each predicts its value
    t0 = time.time()
    for step in range(1, a.steps + 1):
        x = torch.tensor([[0] + recall_sequence(rng, 10, V, P) for _ in range(B)])
        h, _ = m.hidden(x, pos, allowed)
        logits = m.logits(h[:, q])
        loss = F.cross_entropy(logits.reshape(-1, V), x[:, q + 1].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0:
            recall = (logits.argmax(-1) == x[:, q + 1]).float().mean().item()
            print(f"{'float' if a.float else 'ternary'} step {step} loss {loss.item():.3f} recall {recall:.2f} {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
