"""Checks that training sees what inference does: the block-diffusion rows of data.py give, for every
window, the logits of decode.py's block pass over the same committed prefix (which is what the engines
compute with a KV cache), and the clean part gives plain causal logits per document. Also the BitLinear
Function against the straight-through reference, and the safetensors writer.
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -m unittest discover -s scripts/train -p 'test_*.py'
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import ANSWER_START, make_batch  # noqa: E402
from decode import _run, recall_probe  # noqa: E402
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


class RecallProbe(unittest.TestCase):
    class Oracle(torch.nn.Module):
        """Predicts, after each token, what followed its last earlier occurrence (perfect induction), or,
        with induction=False, the token itself (a model that only looks at the current position)."""

        def __init__(self, vocab, induction):
            super().__init__()
            self.embed_tokens = torch.nn.Embedding(vocab, 1)
            self.vocab, self.induction = vocab, induction

        def hidden(self, tokens, pos, allowed, caches=None):
            ids = tokens[0].tolist()
            h = torch.zeros(1, len(ids), self.vocab)
            for i, t in enumerate(ids):
                earlier = [j for j in range(i) if ids[j] == t] if self.induction else []
                h[0, i, ids[earlier[-1] + 1] if earlier else t] = 1.0
            return h, None

        def logits(self, h):
            return h

    def test_scores_induction_and_not_position(self):
        self.assertEqual(recall_probe(self.Oracle(64, True), 0, 10, 64, trials=4), 1.0)
        self.assertEqual(recall_probe(self.Oracle(64, False), 0, 10, 64, trials=4), 0.0)
        torch.manual_seed(0)
        fresh = Model(Config(vocab_size=64, dim=64, n_layers=1, n_heads=2, n_kv_heads=2, ffn_dim=128))
        self.assertLess(recall_probe(fresh, 0, 10, 64), 0.2)  # an untrained model: near chance (1/54)
        self.assertTrue(fresh.training)  # left as it was found


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


HERE = os.path.dirname(os.path.abspath(__file__))
BUN = os.path.join(HERE, "..", "..", "node_modules", ".bin", "bun")


class Training(unittest.TestCase):
    """train.py end to end on a tiny corpus: --procs 2 takes the same steps as one process, and a run
    moves to new data only when the vocabulary is the same."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        small = ["--eval-set", os.path.join(cls.tmp.name, "eval-set.jsonl"), "--docs", "400", "--val-docs", "40",
                 "--eval-per-family", "1", "--vocab", "300", "--bpe-docs", "400"]

        def make(name, *extra):
            out = os.path.join(cls.tmp.name, name)
            subprocess.run([BUN, os.path.join(HERE, "make-data.ts"), "--out", out, *small, *extra], check=True, capture_output=True)
            return out

        cls.data = make("d1")
        cls.data2 = make("d2", "--seed", "2", "--boost", "lookup=3", "--vocab-from", cls.data)
        cls.other = make("d3", "--seed", "3")  # a vocabulary of its own
        cls.addClassCleanup(cls.tmp.cleanup)

    def train(self, run, *args):
        cmd = [sys.executable, os.path.join(HERE, "train.py"), "--run", run, "--runs", self.tmp.name, "--dim", "32",
               "--layers", "1", "--heads", "2", "--kv-heads", "2", "--ffn", "64", "--T", "64", "--batch", "8", "--micro", "2",
               "--warmup", "2", "--log-every", "1", "--eval-every", "1000", "--eval-n", "1", "--dlm-start", "2", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})

    @staticmethod
    def losses(out):
        """(ar, answers[, dlm]) of each logged step."""
        return [tuple(float(v) for v in m if v) for m in re.findall(r"^step \d+ ar ([0-9.]+) answers ([0-9.]+)(?: dlm ([0-9.]+))?", out, re.M)]

    def same_run_two_ways(self, steps, how, banner):
        """Trains `steps` steps plainly and with the options `how`; returns both runs' logged losses and checkpoints."""
        runs = []
        for name, extra in (("plain-" + how[0], []), ("other-" + how[0], list(how))):
            r = self.train(name, "--data", self.data, "--steps", str(steps), *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            runs.append((self.losses(r.stdout), torch.load(os.path.join(self.tmp.name, name, "ckpt.pt"), weights_only=False)))
        self.assertIn(banner, r.stdout)
        self.assertEqual(len(runs[0][0]), steps)
        self.assertEqual(len(runs[1][0]), steps)
        return runs

    def test_two_processes_take_the_same_steps(self):
        (a, c1), (b, c2) = self.same_run_two_ways(4, ("--procs", "2"), "2 processes")
        self.assertEqual(len(a[-1]), 3)  # block diffusion was on by the end
        for x, y in zip(a, b):
            for u, v in zip(x, y):
                self.assertAlmostEqual(u, v, delta=2e-3)
        for k in c1["model"]:
            self.assertLess(float((c1["model"][k] - c2["model"][k]).abs().max()), 1e-4, k)
        self.assertNotEqual(self.train("bad", "--data", self.data, "--procs", "3").returncode, 0)  # 4 micro-batches

    def test_batch_workers_take_the_same_steps(self):
        (a, c1), (b, c2) = self.same_run_two_ways(5, ("--workers", "2"), "2 batch workers")
        self.assertEqual(a, b)  # the same batches, built elsewhere: bit for bit
        self.assertEqual(c1["data"], c2["data"])  # the position after step 5, not where the workers ran ahead to
        for k in c1["model"]:
            self.assertTrue(torch.equal(c1["model"][k], c2["model"][k]), k)

    def test_ternary_export_is_the_ternarised_model(self):
        run = self.train("exp", "--data", self.data, "--steps", "1")
        self.assertEqual(run.returncode, 0, run.stderr)
        ckpt = os.path.join(self.tmp.name, "exp", "ckpt.pt")
        out = os.path.join(self.tmp.name, "exp-hf")
        subprocess.run([sys.executable, os.path.join(HERE, "export.py"), ckpt, out, "--ternary"], check=True, capture_output=True)
        got = read_safetensors(os.path.join(out, "model.safetensors"))
        latent = torch.load(ckpt, weights_only=False)["model"]
        n_ternary = 0
        for k, v in latent.items():
            if k.endswith("_proj.weight"):
                codes, scale = ternarise(v.float())
                self.assertTrue(torch.equal(got["model." + k], codes * scale), k)
                self.assertLessEqual(len(torch.unique(got["model." + k])), 3)
                n_ternary += 1
            else:
                self.assertTrue(torch.equal(got["model." + k], v.float()), k)  # embedding and norms as they are
        self.assertEqual(n_ternary, 7)  # one layer: q k v o gate up down

    def test_fit_minutes_sets_the_steps(self):
        fit = self.train("fit", "--data", self.data, "--steps", "100000", "--fit-minutes", "0.4", "--fit-reserve", "0",
                         "--dlm-start", "-1", "--dlm-start-frac", "0.5", "--workers", "1")
        self.assertEqual(fit.returncode, 0, fit.stderr)
        fits = re.findall(r"^fit: [0-9.]+ s/step( with block diffusion)?, -?\d+ s left -> --steps (\d+)(?:, block diffusion from step (\d+))?$", fit.stdout, re.M)
        self.assertIn(len(fits), (1, 2), fit.stdout)  # a second fit once block diffusion runs, if its decay is ahead
        self.assertEqual(fits[0][0], "")
        steps, dlm_from = int(fits[0][1]), int(fits[0][2])
        self.assertLess(steps, 100000)
        self.assertEqual(dlm_from, steps // 2)
        if len(fits) == 2:
            self.assertEqual((fits[1][0], fits[1][2]), (" with block diffusion", ""))
            steps = int(fits[1][1])
        ck = torch.load(os.path.join(self.tmp.name, "fit", "ckpt.pt"), weights_only=False)
        self.assertEqual((ck["step"], ck["args"]["steps"], ck["extra"]["dlm_from"]), (steps, steps, dlm_from))
        bad = self.train("fit2", "--data", self.data, "--dlm-start-frac", "0.5")  # beside --dlm-start 2
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("give one", bad.stderr)

    def test_data_moves_only_with_the_same_vocabulary(self):
        first = self.train("mover", "--data", self.data, "--steps", "2")
        self.assertEqual(first.returncode, 0, first.stderr)
        refused = self.train("mover", "--resume", "--data", self.other, "--steps", "4")
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("vocabulary differs", refused.stderr)
        moved = self.train("mover", "--resume", "--data", self.data2, "--steps", "4")
        self.assertEqual(moved.returncode, 0, moved.stderr)
        ck = torch.load(os.path.join(self.tmp.name, "mover", "ckpt.pt"), weights_only=False)
        self.assertEqual(ck["step"], 4)
        self.assertEqual(ck["args"]["data"], os.path.abspath(self.data2))
        self.assertEqual(ck["extra"]["data_history"], [{"step": 2, "data": os.path.abspath(self.data2)}])


if __name__ == "__main__":
    unittest.main()
