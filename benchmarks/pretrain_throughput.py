"""Training throughput of the CARE pretraining step, in audio seconds per
second, and the share of the accelerator's bf16 peak it uses.

Times the recipe's own step, ``care.pretraining.CAREPretrainer.fit_batch``
(SpeechBrain's fit_batch: autocast, one backward, gradient clipping, AdamW,
the warm-up schedule), on random 5 s crops with random text targets and the
frame targets the config uses (on the fly, inside the step), next to a plain
baseline loop in the same process: the same model and losses, autocast, one
backward, a non-fused AdamW, no compile. FLOPs of one step are counted once
with ``torch.utils.flop_counter.FlopCounterMode``.

Examples::

    python benchmarks/pretrain_throughput.py --config care_small --batch 8 --steps 3
    python benchmarks/pretrain_throughput.py --config care_base --batch 32 128 \\
        --device cuda --precision bf16 --compile --steps 20 --json results.json

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.nnet.schedulers import LinearWarmupScheduler
from speechbrain.utils.train_logger import FileTrainLogger

from care.architectures import architecture_file
from care.lobes.frontend import length_mask
from care.pretraining import CAREPretrainer
from care.processing import VocalFeatureTargets

# Dense bf16 tensor-core peaks (TFLOP/s) by device-name fragment; PERFORMANCE.md's H100 figure.
PEAK_TFLOPS = {"H100": 796.0, "H200": 989.0, "A100": 312.0}


def build(config, target_dim):
    path = architecture_file(config)
    overrides = {"speech_source": None, "text_source": None, "target_dim": target_dim}
    with open(path) as fin:
        return load_hyperpyyaml(fin, overrides)


def make_batch(size, seconds, text_dim, generator):
    samples = int(seconds * 16000)
    items = [
        {
            "id": str(i),
            "sig": 0.1 * torch.randn(samples, generator=generator),
            "text_target": torch.randn(text_dim, generator=generator) * 0.05,
            "has_text": torch.ones(1),
        }
        for i in range(size)
    ]
    return PaddedBatch(items)


def synchronize(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(step, batch, steps, warmup, device):
    for _ in range(warmup):
        step(batch)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    synchronize(device)
    return (time.perf_counter() - start) / steps


def brain_step(encoder, targets, args, workdir):
    hparams = {
        "frame_targets": targets,
        "semantic_weight": 1.0,
        "acoustic_weight": 1.0,
        "lr_scheduler": LinearWarmupScheduler(1e-5, 100, 10**6),
        "log_interval": 10**9,
        "train_logger": FileTrainLogger(str(Path(workdir) / "log.txt")),
        "checkpoints_to_keep": 1,
    }
    fused = args.device.startswith("cuda")
    run_opts = {"device": args.device, "precision": args.precision, "compile": args.compile}
    brain = CAREPretrainer(
        modules={"encoder": encoder},
        opt_class=lambda params: torch.optim.AdamW(params, lr=1e-5, fused=fused),
        hparams=hparams,
        run_opts=run_opts,
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    brain.modules.train()
    return brain.fit_batch


def plain_step(encoder, targets, args):
    """The reference loop: autocast, one backward, plain AdamW."""
    encoder = encoder.to(args.device).train()
    params = [p for p in encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    device_type = args.device.split(":")[0]

    def step(batch):
        wavs, lens = batch.sig
        wavs, lens = wavs.to(args.device), lens.to(args.device)
        text = batch.text_target.data.to(args.device)
        with torch.no_grad():
            frame_targets, _ = targets(wavs, lens)
        with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = encoder(wavs, lens, output_hidden_states=False)
        mask = length_mask(out.lengths, out.acoustic.shape[1]).unsqueeze(-1)
        acoustic = (((out.acoustic.float() - frame_targets) ** 2) * mask).sum() / (
            mask.sum() * frame_targets.shape[-1]
        )
        loss = acoustic + ((out.semantic.float() - text) ** 2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def count_flops(encoder, batch, args):
    from torch.utils.flop_counter import FlopCounterMode

    wavs, lens = batch.sig
    counter = FlopCounterMode(display=False)
    with counter:
        out = encoder(wavs.to(args.device), lens.to(args.device), output_hidden_states=False)
        (out.acoustic.float().mean() + out.semantic.float().mean()).backward()
    encoder.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="care_base", choices=["care_small", "care_base"])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder")
    parser.add_argument("--no_baseline", action="store_true", help="skip the plain loop")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    targets = VocalFeatureTargets().to(args.device)
    peak = None
    if args.device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    else:
        name = platform.processor() or platform.machine()
    results = []
    for size in args.batch:
        batch = make_batch(size, args.seconds, build(args.config, targets.dim)["text_dim"], generator)
        audio = size * args.seconds
        row = {"config": args.config, "batch": size, "seconds": args.seconds,
               "precision": args.precision, "compile": args.compile, "device": name}
        flops_model = build(args.config, targets.dim)["encoder"].to(args.device)
        row["tflop_per_step"] = count_flops(flops_model, batch, args) / 1e12
        del flops_model
        with tempfile.TemporaryDirectory() as workdir:
            encoder = build(args.config, targets.dim)["encoder"]
            step = brain_step(encoder, targets, args, workdir)
            row["recipe_step_s"] = time_steps(step, batch, args.steps, args.warmup, args.device)
            del step, encoder
        wavs = batch.sig[0][:, : int(args.seconds * 16000)].to(args.device)
        row["targets_s"] = time_steps(
            lambda b: targets(wavs, None), batch, args.steps, 1, args.device
        )
        if not args.no_baseline:
            step = plain_step(build(args.config, targets.dim)["encoder"], targets, args)
            row["plain_step_s"] = time_steps(step, batch, args.steps, args.warmup, args.device)
        for key in ("recipe", "plain"):
            if f"{key}_step_s" in row:
                row[f"{key}_audio_s_per_s"] = audio / row[f"{key}_step_s"]
                if peak:
                    row[f"{key}_peak_share"] = row["tflop_per_step"] / row[f"{key}_step_s"] / peak
        row["targets_audio_s_per_s"] = audio / row["targets_s"]
        results.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
