"""Batches: whole documents packed into rows, and the block-diffusion layout built beside them.

Files (from make-data.ts): NAME.bin uint16 ids, NAME.meta uint8 (loss class in bits 0-1, bit 2 = first
token of an assistant reply), NAME.docs uint32 document starts (then the end).

A row is [clean: T tokens | noisy A: N | noisy B: N | padding]. The clean part holds whole documents
(positions restart at 0 in each, attention causal within a document): it carries the next-token loss,
and it is the committed prefix the noisy windows read. Each noisy window reproduces one block pass of
the decoder (src/generate/dlm.ts) on an assistant reply r (first token at r, its <|eot_id|> at e):
  blocks of 32 start at b = r, r+32, ...; one sub-block of 8 per block is drawn: s = b + 8j (s <= e);
  the window is positions [s, b+32): the sub-block [s, s+8) (each position its real token or the mask),
  then lookahead masks to the end of the block; positions after e are masks.
  Window tokens attend to each other (bidirectional) and to the clean tokens of their document before s
  (the committed prefix); nothing else. Token shift: the window token at position p predicts p+1, which
  is scored when p+1 is a masked position of the sub-block, p+1 > s and p+1 <= e (position s itself is
  predicted by the clean token at s-1: the next-token objective already trains that).
Noisy A and B hold the same windows with complementary masks over the sub-block (every position is
scored exactly once); with probability FULL_MASK A masks the whole sub-block (the decoder's first pass)
and B draws an independent mask instead of the (empty) complement.
"""
import numpy as np
import torch

BLOCK = 32
SUB = 8
FULL_MASK = 0.25
CLASS_WEIGHTS = (0.0, 0.1, 0.3, 1.0)  # 0 never, 1 template/user text, 2 stories & small talk, 3 task answers
ANSWER_START = 4


class Split:
    def __init__(self, prefix):
        self.ids = np.fromfile(prefix + ".bin", dtype=np.uint16)
        self.meta = np.fromfile(prefix + ".meta", dtype=np.uint8)
        self.starts = np.fromfile(prefix + ".docs", dtype=np.uint32).astype(np.int64)
        self.n_docs = len(self.starts) - 1

    def doc(self, i, limit):
        a, b = self.starts[i], min(self.starts[i + 1], self.starts[i] + limit)
        return self.ids[a:b].astype(np.int64), self.meta[a:b]


class Packer:
    """Packs documents, in a per-epoch shuffled order from the seed, into rows of T tokens.
    The position (epoch, index) is all the state: save it to resume exactly."""

    def __init__(self, split, T, seed, epoch=0, index=0):
        self.split, self.T, self.seed = split, T, seed
        self.epoch, self.index = epoch, index
        self._order = None

    def order(self):
        if self._order is None or self._order[0] != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            self._order = (self.epoch, rng.permutation(self.split.n_docs))
        return self._order[1]

    def state(self):
        return {"epoch": self.epoch, "index": self.index}

    def row(self):
        """One row: list of (ids, meta) documents whose lengths sum to <= T."""
        docs, used = [], 0
        while True:
            order = self.order()
            if self.index >= len(order):
                self.epoch, self.index = self.epoch + 1, 0
                continue
            ids, meta = self.split.doc(order[self.index], self.T)
            if used + len(ids) > self.T and docs:
                return docs
            docs.append((ids, meta))
            used += len(ids)
            self.index += 1


def windows(ids, meta, eot, rng, lookahead=True):
    """Block-pass windows of one document's replies: (s, end, e) = window [s, end), reply ends at e.
    With lookahead the window runs to the end of the block (masks after the sub-block), else it is the
    sub-block alone, as the decoder's block passes with and without `lookahead`."""
    out = []
    for r in np.flatnonzero(meta & ANSWER_START):
        ends = np.flatnonzero(ids[r:] == eot)
        if len(ends) == 0:
            continue  # reply truncated by the row length: no end to train against
        e = r + ends[0]
        for b in range(r, e + 1, BLOCK):
            j = rng.integers(0, (e - b) // SUB + 1) if e - b < BLOCK else rng.integers(0, BLOCK // SUB)
            s = b + SUB * j
            out.append((s, b + BLOCK if lookahead else min(b + BLOCK, s + SUB), e))
    return out


def attention_mask(layout):
    """allowed [B, L, L] (True = query may attend to key) from a batch's layout, on the layout's device:
    clean tokens causally within their document; a noisy window's tokens to their document's clean tokens
    before the window's start and to each other; padding to itself."""
    kind, doc, pos, win, start = (layout[k] for k in ("kind", "doc", "pos", "win", "start"))
    kq, kk = kind[:, :, None], kind[:, None, :]
    same_doc = doc[:, :, None] == doc[:, None, :]
    allowed = (kq == 0) & (kk == 0) & same_doc & (pos[:, None, :] <= pos[:, :, None])
    allowed |= (kq == 1) & (kk == 0) & same_doc & (pos[:, None, :] < start[:, :, None])
    allowed |= (kq == 1) & (kk == 1) & (win[:, :, None] == win[:, None, :])
    allowed |= torch.eye(kind.shape[1], dtype=torch.bool, device=kind.device)[None] & (kq == 2)
    return allowed


def make_batch(rows, T, mask_id, eot, rng, dlm, lookahead=True, with_mask=True):
    """rows: per row, the documents from Packer.row(). Returns a dict of tensors (see train.py).
    with_mask=False leaves "allowed" to attention_mask(batch["layout"]) (e.g. built on the GPU)."""
    B = len(rows)
    per_row = []
    for docs in rows:
        tok, pos, doc, meta = [], [], [], []
        wins = []  # (doc index, clean offset of the doc, s, end, e) in document positions
        off = 0
        for d, (ids, m) in enumerate(docs):
            tok.append(ids); meta.append(m)
            pos.append(np.arange(len(ids))); doc.append(np.full(len(ids), d))
            if dlm:
                wins += [(d, off, s, end, e) for (s, end, e) in windows(ids, m, eot, rng, lookahead)]
            off += len(ids)
        per_row.append((np.concatenate(tok), np.concatenate(pos), np.concatenate(doc), np.concatenate(meta), wins))
    n_noisy = max(sum(end - s for (_, _, s, end, _) in r[4]) for r in per_row) if dlm else 0
    L = T + 2 * n_noisy
    L = (L + 7) // 8 * 8

    tokens = np.zeros((B, L), np.int64)
    pos = np.zeros((B, L), np.int64)
    kind = np.full((B, L), 2, np.int64)  # 0 clean, 1 noisy, 2 padding
    docid = np.full((B, L), -1, np.int64)
    win = np.full((B, L), -1, np.int64)
    start = np.zeros((B, L), np.int64)
    ar = ([], [], [], [])  # flat index, target, weight, class
    dl = ([], [], [], [])
    placed = []  # (row, first index, length, document, s) of every noisy window
    cw = np.array(CLASS_WEIGHTS)
    for b, (tk, ps, dc, mt, wins) in enumerate(per_row):
        n = len(tk)
        tokens[b, :n], pos[b, :n], kind[b, :n], docid[b, :n] = tk, ps, 0, dc
        # next-token targets: position t predicts t+1 of the same document
        same = dc[1:] == dc[:-1]
        t = np.flatnonzero(same & (cw[mt[1:] & 3] > 0))
        ar[0].append(b * L + t); ar[1].append(tk[t + 1]); ar[2].append(cw[mt[t + 1] & 3]); ar[3].append(mt[t + 1] & 3)
        if not dlm:
            continue
        # noisy streams: A at [T, T+N), B at [T+N, T+2N)
        wid = 0
        for stream in (0, 1):
            at = T + stream * n_noisy
            for wi, wtuple in enumerate(wins):
                d, off, s, end, e = wtuple[:5]
                ids_doc = tk[off:off + np.count_nonzero(dc == d)]
                sub = np.arange(s, min(s + SUB, end))
                live = sub[sub <= e]  # sub-block positions inside the reply
                if stream == 0:
                    r = rng.random()
                    full = rng.random() < FULL_MASK
                    m = np.ones(len(live), bool) if full else rng.random(len(live)) < r
                    masks_a = m
                    if full:
                        masks_b = rng.random(len(live)) < rng.random()
                    else:
                        masks_b = ~m
                    wins[wi] = (d, off, s, end, e, masks_a, masks_b)
                masked = wins[wi][5 + stream]
                span = np.arange(s, end)
                x = np.full(len(span), mask_id, np.int64)
                keep = live[~masked]
                x[keep - s] = ids_doc[keep]
                sl = slice(at, at + len(span))
                tokens[b, sl], pos[b, sl], kind[b, sl], docid[b, sl] = x, span, 1, d
                win[b, sl], start[b, sl] = wid, s
                placed.append((b, at, len(span), d, s))
                # scored: masked live positions q > s, predicted by the window token at q-1
                q = live[masked]
                q = q[q > s]
                if len(q):
                    dl[0].append(b * L + at + (q - 1 - s)); dl[1].append(ids_doc[q])
                    dl[2].append(cw[mt[off + q] & 3]); dl[3].append(mt[off + q] & 3)
                at += len(span)
                wid += 1

    layout = {k: torch.from_numpy(v) for k, v in (("kind", kind), ("doc", docid), ("pos", pos), ("win", win), ("start", start))}

    def cat(parts, dtype):
        return torch.from_numpy(np.concatenate(parts).astype(dtype)) if parts else torch.zeros(0, dtype=getattr(torch, dtype))

    return {
        "tokens": torch.from_numpy(tokens), "pos": layout["pos"], "layout": layout,
        "allowed": attention_mask(layout) if with_mask else None,
        "ar": tuple(cat(p, dt) for p, dt in zip(ar, ("int64", "int64", "float32", "int64"))),
        "dlm": tuple(cat(p, dt) for p, dt in zip(dl, ("int64", "int64", "float32", "int64"))),
        "n_clean": sum(len(r[0]) for r in per_row), "L": L, "windows": placed,
    }
