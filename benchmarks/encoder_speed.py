#!/usr/bin/env python3
"""Speed of the CARE encoder: audio seconds processed per wall-clock second.

Two modes, on fixed-length crops of random audio with random weights:

- ``train``: one optimisation step of both losses (forward, one backward,
  fused AdamW where available), the inner loop of pretraining;
- ``extract``: forward without gradients, all hidden states returned, the
  feature extraction of the probing recipes. ``--baseline`` also times the
  Hugging Face WavLM-base-shaped model on the same batch (forward, all hidden
  states), so the ratio on the same machine is reported.

On CUDA, the share of the GPU's bf16 matrix peak is reported from the FLOPs
of one step counted by ``torch.utils.flop_counter.FlopCounterMode``.

Usage (from the repository root)::

    python benchmarks/encoder_speed.py --config care_small --batch 8 --mode train
    python benchmarks/encoder_speed.py --config care_base --batch 128 --device cuda --precision bf16
"""

import argparse
import json
import platform
import time
import torch
from hyperpyyaml import load_hyperpyyaml

from care.architectures import architecture_file

SAMPLE_RATE = 16000


def build_encoder(config):
    """The configuration's encoder with random weights (nothing downloaded)."""
    path = architecture_file(config)
    with open(path) as fin:
        hparams = load_hyperpyyaml(fin, {"speech_source": None, "text_source": None})
    return hparams["encoder"]


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def count_flops(step):
    """FLOPs of one call of ``step``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def time_steps(step, device, warmup, steps):
    """Seconds per call of ``step`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="care_small", choices=["care_small", "care_base"])
    parser.add_argument("--mode", default="train", choices=["train", "extract"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0, help="crop length, s")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder")
    parser.add_argument("--baseline", action="store_true", help="also time HF WavLM-base (extract)")
    parser.add_argument("--peak_tflops", type=float, default=796.0, help="bf16 peak (H100: ~796)")
    parser.add_argument("--json", help="append the result as one JSON line to this file")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    encoder = build_encoder(args.config).to(device)
    model = torch.compile(encoder) if args.compile else encoder
    samples = int(args.seconds * SAMPLE_RATE)
    wavs = torch.randn(args.batch, samples, device=device)
    frames = encoder.frame_lengths(samples)
    text = torch.randn(args.batch, encoder.config["text_dim"], device=device)
    targets = torch.randn(args.batch, frames, encoder.config["target_dim"], device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    optimizer = torch.optim.AdamW(
        [p for p in encoder.parameters() if p.requires_grad],
        lr=1e-5,
        fused=device.type == "cuda",
    )

    def train_step():
        with autocast:
            out = model(wavs, output_hidden_states=False)
            loss = torch.nn.functional.mse_loss(out.semantic.float(), text)
            loss = loss + torch.nn.functional.mse_loss(out.acoustic.float(), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def extract_step():
        with autocast:
            return model(wavs).hidden_states

    if args.mode == "train":
        encoder.train()
        step = train_step
    else:
        encoder.eval()
        step = extract_step
    flops = count_flops(step) if device.type == "cuda" else None
    seconds = time_steps(step, device, args.warmup, args.steps)
    audio = args.batch * args.seconds
    result = {
        "config": args.config,
        "mode": args.mode,
        "batch": args.batch,
        "crop_s": args.seconds,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
        "precision": args.precision,
        "compile": args.compile,
        "step_s": round(seconds, 4),
        "audio_s_per_s": round(audio / seconds, 1),
        "torch": torch.__version__,
    }
    if flops:
        result["tflop_per_step"] = round(flops / 1e12, 2)
        result["share_of_bf16_peak"] = round(flops / seconds / 1e12 / args.peak_tflops, 4)

    if args.baseline and args.mode == "extract":
        from transformers import WavLMConfig, WavLMModel

        wavlm = WavLMModel(WavLMConfig()).to(device).eval()

        @torch.no_grad()
        def baseline_step():
            with autocast:
                return wavlm(wavs, output_hidden_states=True).hidden_states

        base_seconds = time_steps(baseline_step, device, args.warmup, args.steps)
        result["wavlm_base_audio_s_per_s"] = round(audio / base_seconds, 1)
        result["ratio_to_wavlm_base"] = round(base_seconds / seconds, 2)

    print(json.dumps(result))
    if args.json:
        with open(args.json, "a") as fout:
            fout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
