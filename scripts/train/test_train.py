"""Checks that training sees what inference does: the block-diffusion rows of data.py give, for every
window, the logits of decode.py's block pass over the same committed prefix (which is what the engines
compute with a KV cache), and the clean part gives plain causal logits per document. Also the BitLinear
Function against the straight-through reference, and the safetensors writer.
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -m unittest discover -s scripts/train -p 'test_*.py'
"""
import os
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import ANSWER_START, make_batch  # noqa: E402
from decode import _run  # noqa: E402
from export import read_safetensors, write_safetensors  # noqa: E402
from model import BitLinearFn, Config, Model, quantise_activations, ternarise  # noqa: E402

MASK, EOT, BOS = 61, 62, 63


def fake_doc(rng, n_prompt, n_answer):
    """BOS, prompt (class 1), reply (class 3, first flagged) ending in EOT."""
    ids = np.concatenate([[BOS], rng.integers(0, 60, n_prompt), rng.integers(0, 60, n_answer - 1), [EOT]])
    meta = np.concatenate([[0], np.full(n_prompt, 1), np.full(n_answer, 3)]).astype(np.uint8)
    meta[1 + n_prompt] |= ANSWER_START
    return ids.astype(np.int64), meta


class LayoutMatchesDecoder(unittest.TestCase):
    def test_windows_and_clean_rows(self):
        for lookahead in (True, False):
            with self.subTest(lookahead=lookahead):
                self.check_layout(lookahead)

    def check_layout(self, lookahead):
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        model = Model(Config(vocab_size=64, dim=64, n_layers=2, n_heads=2, n_kv_heads=1, ffn_dim=128))
        model.eval()
        docs = [fake_doc(rng, 7, 45), fake_doc(rng, 5, 6), fake_doc(rng, 9, 20)]
        b = make_batch([docs], 128, MASK, EOT, np.random.default_rng(1), True, lookahead)
        with torch.no_grad():
            h, _ = model.hidden(b["tokens"], b["pos"], b["allowed"])
            logits = model.logits(h[0])
        toks, pos = b["tokens"][0], b["pos"][0]
        # clean part: each document's causal logits
        off = 0
        for ids, _ in docs:
            want, _ = _run(model, ids.tolist(), 0, None, True)
            self.assertLess((logits[off:off + len(ids)] - want).abs().max().item(), 1e-3)
            off += len(ids)
        # noisy part: every window gives the logits of the decoder's block pass after its committed prefix
        n_windows, lengths = 0, []
        for row, at, n, d, s in b["windows"]:
            ids = docs[d][0]
            _, caches = _run(model, ids[:s].tolist(), 0, None, True)
            want, _ = _run(model, toks[at:at + n].tolist(), s, caches, False)
            self.assertEqual(pos[at:at + n].tolist(), list(range(s, s + n)))
            lengths.append(n)
            self.assertEqual(int(b["allowed"][0, at, :128].sum()), s, "a window sees exactly its committed prefix")
            self.assertLess((logits[at:at + n] - want).abs().max().item(), 1e-3)
            n_windows += 1
        self.assertGreater(n_windows, 3)
        # a window runs from its sub-block to the end of its block (8, 16, 24 or 32), or is the sub-block alone
        self.assertTrue(all(n % 8 == 0 for n in lengths) and max(lengths) == (32 if lookahead else 8), lengths)
        # every DLM target is the next real token of a masked sub-block position
        idx, tgt, w, _ = b["dlm"]
        self.assertTrue(bool((toks.reshape(-1)[idx + 1] == MASK).all()))
        self.assertTrue(bool((w > 0).all()))


class BitLinearMatchesReference(unittest.TestCase):
    def test_forward_and_gradients(self):
        torch.manual_seed(0)
        x = torch.randn(3, 5, 256, requires_grad=True)
        w = (torch.randn(96, 256) * 0.02).requires_grad_()
        y = BitLinearFn.apply(x, w)
        wq, s = ternarise(w.detach())
        xq, sc = quantise_activations(x.detach())
        yr = F.linear(x + (xq / sc - x).detach(), w + (wq * s - w).detach())
        g = torch.randn_like(y)
        gx, gw = torch.autograd.grad(y, (x, w), g)
        gxr, gwr = torch.autograd.grad(yr, (x, w), g)
        for a, r in ((y, yr), (gx, gxr), (gw, gwr)):
            self.assertLess(((a - r).norm() / r.norm()).item(), 1e-2)  # bf16 products


class Safetensors(unittest.TestCase):
    def test_round_trip(self):
        t = {"b.weight": torch.randn(3, 4), "a": torch.arange(5, dtype=torch.float32)}
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.safetensors")
            write_safetensors(p, t, {"format": "pt"})
            with open(p, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
                self.assertEqual(n % 8, 0)
            back = read_safetensors(p)
        self.assertEqual(set(back), set(t))
        for k in t:
            self.assertTrue(torch.equal(back[k], t[k]))


if __name__ == "__main__":
    unittest.main()
