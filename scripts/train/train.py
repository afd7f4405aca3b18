"""Trains the embedded default model: a small BitNet b1.58 with next-token and block-diffusion objectives.

  python3 scripts/train/train.py --run NAME [options]      start (or --resume to continue NAME)
Resumable: the run directory holds ckpt.pt (model, optimizer, step, data position, RNG states, args),
rewritten every --ckpt-every steps and on SIGINT/SIGTERM; --resume continues exactly where it stopped
(schedule options given on the command line override the saved ones; the model shape cannot change).
Reproducible: data order and every mask are drawn from (seed, step, micro-batch). See README.md beside this file.
--procs N trains data-parallel in N processes (one CPU each): the micro-batches of a step are shared out
and the gradients summed, so the run is the same as with one process (up to float summation order).
--data DIR may change on --resume when DIR's vocabulary is the old one's (make-data.ts --vocab-from): the
run continues on the new documents from their start.
--device cuda trains on a GPU (the result must not depend on one: the CPU runs the same code); --workers N
builds batches in N processes, a few steps ahead; --fit-minutes M times the first steps and sets --steps
so that the run, its decay included, ends about M minutes after the start (--dlm-start-frac then places
block diffusion at a fraction of those steps; their cost is timed again once they begin).
"""
import argparse
import collections
import json
import math
import multiprocessing
import os
import random
import signal
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import Packer, Split, make_batch  # noqa: E402
from decode import Detok, evaluate, recall_probe  # noqa: E402
from model import Config, Model  # noqa: E402
from parallel import build_share, launch, to_device, worker_init  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = {
    "data": os.path.join(HERE, "data"), "runs": os.path.join(HERE, "runs"), "seed": 1,
    "dim": 256, "layers": 6, "heads": 4, "kv_heads": 4, "ffn": 768,
    "T": 256, "batch": 16, "micro": 4, "steps": 20000, "lr": 2e-3, "min_lr_frac": 0.1, "warmup": 300, "decay_frac": 0.2,
    "wd": 0.05, "clip": 1.0, "dlm_start": -1, "dlm_start_acc": 0.9, "dlm_frac": 0.5, "dlm_weight": 1.0, "dlm_lookahead": 1,
    "log_every": 10, "eval_every": 500, "eval_n": 10, "ckpt_every": 100, "snapshot_every": 2000,
    "max_minutes": 0.0, "threads": 1, "procs": 1,
    "device": "cpu", "workers": 0, "fit_minutes": 0.0, "fit_reserve": 60.0, "dlm_start_frac": 0.0,
}
PER_INVOCATION = ("max_minutes", "fit_minutes")  # limits of one invocation, not of the run
PREFETCH = 4  # steps built ahead by --workers
FIT_FROM, FIT_TO = 10, 60  # --fit-minutes times steps FIT_FROM..FIT_TO of the invocation (after warm-up)
SHAPE = ("dim", "layers", "heads", "kv_heads", "ffn", "seed")


def same_vocab(old_dir, new_dir):
    """Whether two data directories share one vocabulary and special ids (a run may move between them)."""
    def facts(d):
        info = json.load(open(os.path.join(d, "info.json")))
        return open(os.path.join(d, "tokenizer.json"), "rb").read(), [info[k] for k in ("vocab", "bos", "eos", "eot", "mask")]
    return facts(old_dir) == facts(new_dir)


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run name: the directory RUNS/NAME")
    p.add_argument("--resume", action="store_true", help="continue RUNS/NAME/ckpt.pt")
    for k, v in DEFAULTS.items():
        p.add_argument("--" + k.replace("_", "-"), type=type(v), default=None, help=f"default {v}")
    a = p.parse_args()
    given = {k: v for k, v in vars(a).items() if v is not None and k in DEFAULTS}
    return a.run, a.resume, given


def lr_at(a, step):
    """Warmup, constant, then linear decay to min_lr_frac over the last decay_frac of the steps (WSD:
    a run can be extended by raising --steps on resume as long as the decay has not started)."""
    if step < a["warmup"]:
        return a["lr"] * (step + 1) / a["warmup"]
    decay_start = a["steps"] * (1 - a["decay_frac"])
    if step < decay_start:
        return a["lr"]
    f = min(1.0, (step - decay_start) / max(1, a["steps"] - decay_start))
    return a["lr"] * (1 - f * (1 - a["min_lr_frac"]))


def save(path, model, opt, step, data_state, a, extra):
    tmp = path + ".tmp"
    torch.save({
        "model": model.state_dict(), "opt": opt.state_dict(), "step": step, "data": data_state,
        "args": a, "config": model.cfg.to_dict(), "extra": extra,
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }, tmp)
    os.replace(tmp, path)


def main():
    t_invoked = time.time()
    name, resume, given = parse()
    rank, world = int(os.environ.get("TRAIN_RANK", "0")), int(os.environ.get("TRAIN_WORLD", "1"))
    run_dir = os.path.join(given.get("runs", DEFAULTS["runs"]), name)
    ckpt_path = os.path.join(run_dir, "ckpt.pt")
    ck = None
    if resume:
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # ours: holds numpy RNG state
        a = {**DEFAULTS, **ck["args"]}  # options added since the run began take their defaults
        for k in PER_INVOCATION:
            a[k] = DEFAULTS[k]
        for k, v in given.items():
            if k in SHAPE and v != a[k]:
                sys.exit(f"--{k} cannot change on resume (checkpoint has {a[k]})")
            a[k] = os.path.abspath(v) if k == "data" else v
    else:
        if os.path.exists(ckpt_path):
            sys.exit(f"{ckpt_path} exists: use --resume, or another --run")
        a = {**DEFAULTS, **given}
    moved = ck is not None and os.path.abspath(a["data"]) != os.path.abspath(ck["args"]["data"])  # new documents
    if moved and not same_vocab(ck["args"]["data"], a["data"]):
        sys.exit(f"--data {a['data']}: its vocabulary differs from the checkpoint's ({ck['args']['data']}); make it with --vocab-from")
    if a["procs"] < 1 or (a["batch"] // a["micro"]) % a["procs"] != 0:
        sys.exit(f"--procs {a['procs']}: must divide the {a['batch'] // a['micro']} micro-batches of a step")
    if a["dlm_start_frac"] > 0 and a["dlm_start"] >= 0:
        sys.exit("--dlm-start and --dlm-start-frac: give one")
    if not 0 <= a["dlm_start_frac"] < 1:
        sys.exit(f"--dlm-start-frac {a['dlm_start_frac']}: must be in [0, 1)")
    if a["device"] != "cpu" and not (a["device"].startswith("cuda") and torch.cuda.is_available()):
        sys.exit(f"--device {a['device']}: " + ("no CUDA device here" if a["device"].startswith("cuda") else "cpu or cuda[:N]"))
    if a["procs"] > 1 and a["device"] != "cpu":
        sys.exit("--procs is for CPU training (one CPU each); on a GPU give --workers for batch building")
    if a["procs"] > 1 and "TRAIN_RANK" not in os.environ:
        sys.exit(launch(a["procs"]))
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{os.environ['TRAIN_PORT']}", rank=rank, world_size=world)
    lead = rank == 0
    # batch-building processes are forked before CUDA starts (a forked CUDA context is unusable)
    pool = multiprocessing.get_context("fork").Pool(a["workers"], initializer=worker_init) if a["workers"] > 0 else None
    dev = torch.device(a["device"])
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # the f32 head and attention; BitLinear runs in bf16 anyway
    os.makedirs(run_dir, exist_ok=True)
    torch.set_num_threads(a["threads"])
    torch.manual_seed(a["seed"])
    np.random.seed(a["seed"])
    random.seed(a["seed"])

    info = json.load(open(os.path.join(a["data"], "info.json")))
    eot, eos, mask_id = info["eot"], info["eos"], info["mask"]
    cfg = Config(vocab_size=info["vocab"], dim=a["dim"], n_layers=a["layers"], n_heads=a["heads"],
                 n_kv_heads=a["kv_heads"], ffn_dim=a["ffn"])
    model = Model(cfg).to(dev)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a["wd"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a["lr"], betas=(0.9, 0.95), eps=1e-8)
    train = Split(os.path.join(a["data"], "train"))
    val = Split(os.path.join(a["data"], "val"))
    packer = Packer(train, a["T"], a["seed"])
    step, extra = 0, {"train_seconds": 0.0}
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, extra = ck["step"], ck["extra"]
        if moved:  # start at the new documents' beginning, and remember when the data changed
            extra.setdefault("data_history", []).append({"step": step, "data": a["data"]})
        else:
            packer.epoch, packer.index = ck["data"]["epoch"], ck["data"]["index"]
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
    data_state = packer.state()  # the data position after the last step taken (the packer runs ahead with --workers)
    prev = extra.get("dlm_from")
    if prev is None or prev > step:
        # not begun yet: the latest --dlm-start decides (-1: only the accuracy rule); once begun, it stays on
        if "dlm_start" in given or prev is None:
            extra["dlm_from"] = max(step, a["dlm_start"]) if a["dlm_start"] >= 0 else None

    def place_dlm_start():
        """--dlm-start-frac: block diffusion from that fraction of the (possibly just fitted) steps."""
        if a["dlm_start_frac"] > 0 and (extra.get("dlm_from") is None or extra["dlm_from"] > step):
            extra["dlm_from"] = max(step, int(a["steps"] * a["dlm_start_frac"]))

    place_dlm_start()
    if lead:
        json.dump(a, open(os.path.join(run_dir, "args.json"), "w"), indent=2)
    emb, body = model.n_params()
    log = print if lead else (lambda *_a, **_k: None)
    log(f"run {name}: step {step}/{a['steps']}, {body / 1e6:.2f} M ternary + {emb / 1e6:.2f} M embedding parameters, "
          f"vocab {cfg.vocab_size}, data {train.ids.size / 1e6:.1f} M tokens ({train.n_docs} docs), "
          f"epoch {packer.epoch} doc {packer.index}" + (f", {world} processes" if world > 1 else "")
          + (f", device {dev}" if dev.type != "cpu" else "") + (f", {a['workers']} batch workers" if pool else ""), flush=True)

    items = [json.loads(l) for l in open(os.path.join(a["data"], "eval.jsonl"))]
    by_fam = {}
    for it in items:
        by_fam.setdefault(it["family"], []).append(it)
    eval_items = [it for f in sorted(by_fam) for it in by_fam[f][: a["eval_n"]]]
    detok = Detok(os.path.join(a["data"], "tokenizer.json"))
    metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a") if lead else None

    stop = {"sig": None}

    def on_signal(sig, _frame):
        stop["sig"] = sig

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    @torch.no_grad()
    def val_loss():
        model.eval()
        vp = Packer(val, a["T"], 12345)
        tot = {"all": [0.0, 0.0], "answers": [0.0, 0.0], "dlm": [0.0, 0.0]}
        for i in range(12):
            b = make_batch([vp.row() for _ in range(a["micro"])], a["T"], mask_id, eot, np.random.default_rng([7, i]), True, bool(a["dlm_lookahead"]))
            b = to_device(b, dev)
            h, _ = model.hidden(b["tokens"], b["pos"], b["allowed"])
            h = h.reshape(-1, cfg.dim)
            for key, (idx, tgt, w, cls) in (("all", b["ar"]), ("dlm", b["dlm"])):
                ce = F.cross_entropy(model.logits(h[idx]), tgt, reduction="none")
                tot[key][0] += float((ce * w).sum()); tot[key][1] += float(w.sum())
                if key == "all":
                    sel = cls == 3
                    tot["answers"][0] += float(ce[sel].sum()); tot["answers"][1] += float(sel.sum())
        model.train()
        return {k: v[0] / max(v[1], 1e-9) for k, v in tot.items()}

    t_start = time.time()
    t_log, toks_log, clean_log = time.time(), 0, 0
    sums = {"ar": 0.0, "ans": 0.0, "dlm": 0.0, "n": 0}
    consts = {"T": a["T"], "mask": mask_id, "eot": eot, "seed": a["seed"], "lookahead": bool(a["dlm_lookahead"]),
              "with_mask": dev.type == "cpu"}  # on a GPU the mask is built there

    def plan(s):
        """Step s's rows (the packer advances here, in order) and the job that builds this rank's share.
        Block diffusion joins once AR answers are right: from --dlm-start(-frac), or from the first
        evaluation whose AR exact match reaches --dlm-start-acc (recorded, so a resumed run keeps it);
        with --workers a change reaches the steps not yet planned."""
        dlm = extra.get("dlm_from") is not None and s >= extra["dlm_from"]
        n_mb = a["batch"] // a["micro"]
        n_dlm = round(n_mb * a["dlm_frac"]) if dlm else 0  # micro-batches that carry noisy windows
        rows = [[packer.row() for _ in range(a["micro"])] for _ in range(n_mb)]
        job = (s, [(i, rows[i]) for i in range(rank, n_mb, world)], n_dlm, consts)
        return s, dlm, packer.state(), (pool.apply_async(build_share, (job,)) if pool else job)

    queue = collections.deque()
    # --fit-minutes: time FIT_TO - FIT_FROM steps, then set --steps to what fits in the time left
    # (--fit-reserve kept for the last evaluation and writes); the schedule (decay over the last
    # --decay-frac) follows the new count. Steps with block diffusion cost more (longer rows), so the fit
    # is made again once they have begun, while the decay is still ahead.
    first = step
    fit, fit_t0 = {"from": first + FIT_FROM, "to": first + FIT_TO, "again": False}, None
    model.train()
    while step < a["steps"]:
        # The batch runs as micro-batches of --micro rows: activations stay cache-sized (elementwise
        # ops dominate this model's step and are memory-bound). Losses are normalised over the batch.
        # Every rank draws the step's rows (the packer stays in step everywhere) and builds its share of
        # the micro-batches, each with its own generator, so the step does not depend on --procs.
        while len(queue) < (PREFETCH if pool else 1) and (not queue or queue[-1][0] + 1 < a["steps"]):
            queue.append(plan(queue[-1][0] + 1 if queue else step))
        planned, dlm, state_after, work = queue.popleft()
        assert planned == step
        mbs = work.get() if pool else build_share(work)
        for g in opt.param_groups:
            g["lr"] = lr_at(a, step)
        w = torch.tensor([float(sum(mb["ar"][2].sum() for mb in mbs)), float(sum(mb["dlm"][2].sum() for mb in mbs))], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(w)
        w_ar, w_dlm = float(w[0]), float(w[1])
        opt.zero_grad(set_to_none=True)
        acc = torch.zeros(4, dtype=torch.float64, device=dev)  # ar, dlm, answer loss, answer tokens (no sync per micro-batch)
        toks = clean = 0
        for mb in mbs:
            toks += a["micro"] * mb["L"]
            clean += mb["n_clean"]
            mb = to_device(mb, dev)
            h, _ = model.hidden(mb["tokens"], mb["pos"], mb["allowed"])
            h = h.reshape(-1, cfg.dim)
            idx, tgt, w, cls = mb["ar"]
            ce = F.cross_entropy(model.logits(h[idx]), tgt, reduction="none")
            loss_ar = (ce * w).sum() / w_ar
            loss = loss_ar
            sel = cls == 3
            acc[0] += loss_ar.detach()
            acc[2] += (ce.detach() * sel).sum()
            acc[3] += sel.sum()
            if w_dlm > 0 and len(mb["dlm"][0]):
                idx, tgt, w, _ = mb["dlm"]
                ce_d = F.cross_entropy(model.logits(h[idx]), tgt, reduction="none")
                loss_dlm = (ce_d * w).sum() / w_dlm
                loss = loss + a["dlm_weight"] * loss_dlm
                acc[1] += loss_dlm.detach()
            loss.backward()
        # one exchange per step: the gradients (summed: losses are normalised over the whole batch),
        # the loss figures, and whether any rank was asked to stop
        stats = torch.cat([acc.cpu(), torch.tensor([toks, clean,
                           1.0 if stop["sig"] is not None else 0.0,
                           1.0 if a["max_minutes"] > 0 and time.time() - t_start > a["max_minutes"] * 60 else 0.0],
                           dtype=torch.float64)])
        if world > 1:
            params = list(model.parameters())
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
            dist.all_reduce(flat)
            dist.all_reduce(stats)
            off = 0
            for p in params:
                p.grad = flat[off:off + p.numel()].view_as(p)  # views of the fresh summed buffer
                off += p.numel()
        got = dict(zip(["ar", "dlm", "ans", "ans_n", "toks", "clean", "stop", "out_of_time"], stats.tolist()))
        sums["ar"] += got["ar"]; sums["dlm"] += got["dlm"]
        sums["ans"] += got["ans"] / max(1.0, got["ans_n"])
        toks_log += int(got["toks"]); clean_log += int(got["clean"])
        if got["stop"] > 0 and stop["sig"] is None:
            stop["sig"] = "to another process"
        out_of_time = got["out_of_time"] > 0
        torch.nn.utils.clip_grad_norm_(model.parameters(), a["clip"])
        opt.step()
        step += 1
        sums["n"] += 1
        data_state = state_after
        if a["fit_minutes"] > 0 and step == fit["from"]:
            fit_t0 = time.time()
        if a["fit_minutes"] > 0 and step == fit["to"]:
            per_step = (time.time() - fit_t0) / (FIT_TO - FIT_FROM)
            left = a["fit_minutes"] * 60 - (time.time() - t_invoked) - a["fit_reserve"]
            a["steps"] = max(step + 1, step + int(left / per_step))
            if not fit["again"]:
                place_dlm_start()
            log(f"fit: {per_step:.3f} s/step" + (" with block diffusion" if dlm else "") + f", {left:.0f} s left -> --steps {a['steps']}"
                + (f", block diffusion from step {extra['dlm_from']}" if a["dlm_start_frac"] > 0 and not fit["again"] else ""), flush=True)
            d = extra.get("dlm_from")
            if not fit["again"] and d is not None and d > step and d + FIT_TO < a["steps"] * (1 - a["decay_frac"]):
                fit = {"from": d + FIT_FROM, "to": d + FIT_TO, "again": True}
            if lead:
                json.dump(a, open(os.path.join(run_dir, "args.json"), "w"), indent=2)

        if step % a["log_every"] == 0 and lead:
            dt = time.time() - t_log
            extra["train_seconds"] += dt
            n = sums["n"]
            rec = {"step": step, "loss_ar": sums["ar"] / n, "loss_answers": sums["ans"] / n,
                   "loss_dlm": sums["dlm"] / n if dlm else None, "lr": lr_at(a, step - 1),
                   "s_per_step": dt / n, "clean_tok_s": clean_log / dt, "tok_s": toks_log / dt,
                   "epoch": packer.epoch + packer.index / train.n_docs, "hours": extra["train_seconds"] / 3600}
            print(f"step {step} ar {rec['loss_ar']:.4f} answers {rec['loss_answers']:.4f}"
                  + (f" dlm {rec['loss_dlm']:.4f}" if dlm else "")
                  + f" lr {rec['lr']:.2e} {rec['s_per_step']:.2f}s/step {rec['clean_tok_s']:.0f} tok/s"
                  f" ({rec['tok_s']:.0f} with noisy) epoch {rec['epoch']:.2f} {rec['hours']:.2f}h", flush=True)
            metrics.write(json.dumps(rec) + "\n"); metrics.flush()
            t_log, toks_log, clean_log = time.time(), 0, 0
            sums = {"ar": 0.0, "ans": 0.0, "dlm": 0.0, "n": 0}

        at_eval = step % a["eval_every"] == 0 or step == a["steps"]
        if at_eval and lead:
            t0 = time.time()
            vl = val_loss()
            ev = evaluate(model, eval_items, detok, {eot, eos}, mask_id, dlm=dlm, lookahead=bool(a["dlm_lookahead"]))
            ev["recall"] = recall_probe(model, info["bos"], max(info[k] for k in ("bos", "eos", "eot", "mask")) + 1, cfg.vocab_size)
            rec = {"step": step, "val": vl, **ev, "eval_seconds": time.time() - t0}
            fam = " ".join(f"{k} {v:.2f}" for k, v in ev["ar_by_family"].items())
            log(f"eval {step}: val ar {vl['all']:.4f} answers {vl['answers']:.4f} dlm {vl['dlm']:.4f} | "
                  f"AR exact {ev['ar_acc']:.3f} ({fam})"
                  + (f" | DLM exact {ev['dlm_acc']:.3f} tokens/pass {ev['dlm_tokens_per_pass']:.2f}" if dlm else "")
                  + f" | recall {ev['recall']:.2f}"
                  + f" [{rec['eval_seconds']:.0f}s]", flush=True)
            for p_, want, got in ev["wrong_examples"]:
                log(f"  wrong: {p_!r} -> {got!r} (want {want!r})", flush=True)
            metrics.write(json.dumps(rec) + "\n"); metrics.flush()
            if extra.get("dlm_from") is None and a["dlm_start_acc"] > 0 and ev["ar_acc"] >= a["dlm_start_acc"]:
                extra["dlm_from"] = step
                log(f"AR exact match {ev['ar_acc']:.3f} >= {a['dlm_start_acc']}: block diffusion from step {step}", flush=True)
            t_log = time.time()  # evaluation time is not training time
        if world > 1 and at_eval:
            # the accuracy rule may have started block diffusion on rank 0: every rank follows
            flag = torch.tensor([-1 if extra.get("dlm_from") is None else extra["dlm_from"]], dtype=torch.int64)
            dist.broadcast(flag, 0)
            extra["dlm_from"] = None if int(flag) < 0 else int(flag)

        if lead and (step % a["ckpt_every"] == 0 or step == a["steps"] or stop["sig"] is not None or out_of_time):
            save(ckpt_path, model, opt, step, data_state, a, extra)
            if a["snapshot_every"] > 0 and step % a["snapshot_every"] == 0:
                save(os.path.join(run_dir, f"ckpt-{step}.pt"), model, opt, step, data_state, a, extra)
        if stop["sig"] is not None or out_of_time:
            why = f"signal {stop['sig']}" if stop["sig"] is not None else "--max-minutes"
            log(f"stopped by {why} at step {step}; checkpoint saved: resume with --resume", flush=True)
            return
    log(f"done: {step} steps, {extra['train_seconds'] / 3600:.2f} h of training", flush=True)


if __name__ == "__main__":
    main()
