"""Decoding in torch, for held-out evaluation during training: greedy AR, and a re-implementation of our
block-diffusion decoder (src/generate/dlm.ts, iterative mode, `block` attention, greedy sampling) that
counts forward passes the same way (block passes + commit passes; the prompt's prefill is not counted).
"""
import json

import numpy as np
import torch

from model import Model


@torch.no_grad()
def _run(model, ids, start, caches, causal):
    """Decodes ids at positions start.. over the cache; returns (logits [n, V], new caches).
    causal=False: the new tokens attend to each other both ways (a block pass)."""
    n, dev = len(ids), model.embed_tokens.weight.device
    t = torch.tensor([ids], dtype=torch.long, device=dev)
    pos = torch.arange(start, start + n, device=dev)[None]
    allowed = torch.ones(1, n, start + n, dtype=torch.bool, device=dev)
    if causal:
        allowed[0, :, start:] = torch.ones(n, n, dtype=torch.bool, device=dev).tril()
    h, new = model.hidden(t, pos, allowed, caches)
    return model.logits(h[0]), new


def ar_generate(model, prompt, eog, max_new=64):
    logits, caches = _run(model, prompt, 0, None, True)
    out, n = [], len(prompt)
    for _ in range(max_new):
        tok = int(logits[-1].argmax())
        if tok in eog:
            break
        out.append(tok)
        logits, caches = _run(model, [tok], n, caches, True)
        n += 1
    return out


def dlm_generate(model, prompt, eog, mask_id, max_new=64, threshold=0.9, block=32, sub=8, max_steps=16, lookahead=True):
    """Returns (tokens, forward passes). Mirrors DlmSequence: see dlm.ts for the why of each step."""
    logits, caches = _run(model, prompt, 0, None, True)
    next_row = logits[-1]
    n_past, fill, passes, out = len(prompt), 0, 0, []
    while True:
        w = min(sub, block - fill, max_new - len(out))
        if w <= 0:
            return out, passes
        look = block - fill - w if lookahead else 0
        win, done, steps, eog_seen = [mask_id] * w, [False] * w, 0, False
        rows = None

        def decide(row_of):
            nonlocal w, look, steps, eog_seen
            open_ = [i for i in range(w) if not done[i]]
            probs = {i: torch.softmax(row_of(i).float(), -1) for i in open_}
            conf = {i: float(probs[i].max()) for i in open_}
            chosen = open_ if steps + 1 >= max_steps else [i for i in open_ if conf[i] > threshold]
            if not chosen:
                chosen = [max(open_, key=lambda i: conf[i])]
            for i in chosen:
                win[i] = int(probs[i].argmax())
                done[i] = True
            steps += 1
            for i in range(w):
                if done[i] and win[i] in eog:
                    w, look, eog_seen = i, 0, True
                    break

        while True:
            n_open = sum(1 for i in range(w) if not done[i])
            if n_open == 0:
                break
            if n_open == 1 and not done[0]:
                decide(lambda i: next_row)
                continue
            rows, _ = _run(model, win[:w] + [mask_id] * look, n_past, caches, False)  # cache not kept
            passes += 1
            decide(lambda i, rows=rows: next_row if i == 0 else rows[i - 1])
        out += win[:w]
        if eog_seen or len(out) >= max_new:
            return out, passes
        logits, caches = _run(model, win[:w], n_past, caches, True)  # commit pass: real keys
        passes += 1
        next_row = logits[-1]
        n_past += w
        fill = (fill + w) % block


class Detok:
    """token ids -> text through tokenizer.json's vocabulary and GPT-2's byte-to-unicode map."""

    def __init__(self, path):
        vocab = json.load(open(path, encoding="utf-8"))["model"]["vocab"]
        self.text = {i: t for t, i in vocab.items()}
        bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
        cs, n = bs[:], 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        self.byte = {chr(c): b for b, c in zip(bs, cs)}

    def __call__(self, ids):
        out = bytearray()
        for i in ids:
            t = self.text[i]
            if t.startswith("<|") or t == "|<MASK>|":
                continue
            out += bytes(self.byte[c] for c in t)
        return out.decode("utf-8", errors="replace")


def recall_sequence(rng, lo, hi, pairs):
    """One associative-recall task: `pairs` (key, value) pairs of distinct random tokens from ids [lo, hi),
    then the same pairs in another order: [k1, v1, ..., kP, vP, k_a, v_a, ...] (no BOS)."""
    toks = rng.choice(np.arange(lo, hi), 2 * pairs, replace=False).tolist()
    again = rng.permutation(pairs).tolist()
    return [t for i in range(pairs) for t in (toks[i], toks[pairs + i])] + [t for i in again for t in (toks[i], toks[pairs + i])]


@torch.no_grad()
def recall_probe(model, bos, lo, hi, trials=16, pairs=6, seed=0):
    """Associative recall, the mechanism lookups need (induction): BOS and a recall_sequence per trial;
    returns the fraction of second-half values that are the argmax right after their key. A model that
    only copies by position scores ~0."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    hits = 0
    first = 1 + 2 * pairs  # the second half's first key
    for _ in range(trials):
        ids = [bos] + recall_sequence(rng, lo, hi, pairs)
        logits, _ = _run(model, ids, 0, None, True)
        hits += sum(int(logits[first + 2 * j].argmax()) == ids[first + 2 * j + 1] for j in range(pairs))
    model.train(was_training)
    return hits / (trials * pairs)


def evaluate(model, items, detok, eog, mask_id, dlm=True, max_new=64, threshold=0.9, lookahead=True):
    """Exact-match accuracy per family (AR, and DLM with tokens per pass)."""
    model.eval()
    res = {"ar": {}, "dlm": {}, "tokens": 0, "passes": 0}
    examples = []
    for it in items:
        fam = it["family"]
        got = detok(ar_generate(model, it["prompt_ids"], eog, max_new)).strip()
        res["ar"].setdefault(fam, []).append(got == it["answer"])
        if len(examples) < 3 and got != it["answer"]:
            examples.append((it["prompt"], it["answer"], got))
        if dlm:
            toks, passes = dlm_generate(model, it["prompt_ids"], eog, mask_id, max_new, threshold, lookahead=lookahead)
            res["dlm"].setdefault(fam, []).append(detok(toks).strip() == it["answer"])
            res["tokens"] += len([t for t in toks if t not in eog])
            res["passes"] += passes
    model.train()

    def acc(d):
        allv = [x for v in d.values() for x in v]
        return (sum(allv) / len(allv) if allv else float("nan")), {k: sum(v) / len(v) for k, v in sorted(d.items())}

    ar_acc, ar_fam = acc(res["ar"])
    out = {"ar_acc": ar_acc, "ar_by_family": ar_fam, "wrong_examples": examples}
    if dlm:
        out["dlm_acc"], out["dlm_by_family"] = acc(res["dlm"])
        out["dlm_tokens_per_pass"] = res["tokens"] / max(1, res["passes"])
    return out
