"""How a training step's work moves between processes: --procs (data-parallel ranks, one CPU each,
gradients summed over gloo) and --workers (forked processes that build batches ahead), and batches
onto the training device."""
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import torch

from data import attention_mask, make_batch


def launch(procs):
    """Starts `procs` copies of this command as ranks 0..procs-1 and waits; SIGINT/SIGTERM are passed on
    (each rank then checkpoints, rank 0 writes). Returns the worst exit status."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TRAIN_WORLD": str(procs), "TRAIN_PORT": str(port)}
    kids = [subprocess.Popen([sys.executable, *sys.argv], env={**env, "TRAIN_RANK": str(r)}) for r in range(procs)]

    def forward(sig, _frame):
        for k in kids:
            if k.poll() is None:
                k.send_signal(sig)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    codes = [k.wait() for k in kids]
    return max(codes, key=abs)


def worker_init():
    """A batch-building process: one thread; Ctrl-C is the trainer's to handle (it checkpoints first)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


def build_share(job):
    """The micro-batches of one step that one rank computes: job = (step, [(i, rows)], n_dlm, consts).
    Every micro-batch has its own generator, so neither --procs nor --workers changes a step."""
    step, share, n_dlm, c = job
    return [make_batch(rows, c["T"], c["mask"], c["eot"], np.random.default_rng([c["seed"], 1, step, i]), i < n_dlm,
                       c["lookahead"], with_mask=c["with_mask"]) for i, rows in share]


def to_device(mb, dev):
    """A batch from make_batch on `dev`, its attention mask built there if it was left out."""
    out = {**mb, "tokens": mb["tokens"].to(dev), "pos": mb["pos"].to(dev),
           "ar": tuple(t.to(dev) for t in mb["ar"]), "dlm": tuple(t.to(dev) for t in mb["dlm"])}
    out["allowed"] = mb["allowed"].to(dev) if mb["allowed"] is not None else attention_mask({k: v.to(dev) for k, v in mb["layout"].items()})
    return out
