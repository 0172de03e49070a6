#!/usr/bin/env python3
"""Cost of ``save_and_keep_only`` as a run goes on: SpeechBrain's
``Checkpointer`` against ``care.checkpoints.AtomicCheckpointer``.

SpeechBrain 1.1.2 appends ``ckpt_recency`` to the default list of
``save_and_keep_only(importance_keys=[])`` at every call, a list shared by the
whole process, so the n-th save of a process scans the checkpoint folder (and
parses every ``CKPT.yaml``) about 2n times. A probing run saves the best epoch
of every fold, a few hundred times per run. ``AtomicCheckpointer`` passes
fresh lists. This script saves a tiny model ``--saves`` times, in a fresh
process per checkpointer (the shared list lives as long as the process), and
prints the seconds per save over the first and the last ``--window`` saves.

    python benchmarks/checkpoint_saves.py --saves 300
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time


def one_process(kind, saves, window):
    import torch
    from speechbrain.utils.checkpoints import Checkpointer

    from care.checkpoints import AtomicCheckpointer

    cls = {"speechbrain": Checkpointer, "care": AtomicCheckpointer}[kind]
    with tempfile.TemporaryDirectory() as folder:
        checkpointer = cls(folder, {"probe": torch.nn.Linear(64, 6)})
        times = []
        for step in range(saves):
            start = time.perf_counter()
            checkpointer.save_and_keep_only(meta={"weighted_f1": step / saves, "epoch": step},
                                            max_keys=["weighted_f1"])
            times.append(time.perf_counter() - start)
    return {"checkpointer": cls.__name__, "saves": saves,
            "first": sum(times[:window]) / window, "last": sum(times[-window:]) / window,
            "total": sum(times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--child", choices=["speechbrain", "care"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.saves < args.window:
        parser.error("--saves must be at least --window")
    if args.child:
        print(json.dumps(one_process(args.child, args.saves, args.window)))
        return
    print("| checkpointer | saves | s per save, first %d | s per save, last %d | total s |" % (args.window, args.window))
    print("|---|---|---|---|---|")
    for kind in ("speechbrain", "care"):
        out = subprocess.run([sys.executable, __file__, "--child", kind, "--saves", str(args.saves),
                              "--window", str(args.window)], check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| `{row['checkpointer']}` | {row['saves']} | {row['first']:.4f} | {row['last']:.4f} | {row['total']:.1f} |")


if __name__ == "__main__":
    main()
