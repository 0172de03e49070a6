"""Training throughput of the emotion fine-tuning step, in audio seconds per
second, and its peak accelerator memory.

Times the recipe's own step, ``care.probing.finetune.EmotionFineTuner.fit_batch``
(SpeechBrain's fit_batch: autocast, the encoder's hidden states pooled, the
head, one backward through the trainable parts, gradient clipping, the two
AdamW optimisers and their schedules), with the options of
``recipes/EmoDB/emotion/hparams/finetune.yaml`` (the encoder unfrozen from the
first step), on random batches of equal-length clips. The encoder is built
offline with random weights (the sizes are what costs, not the values).

Examples::

    python benchmarks/finetune_throughput.py --config care_small --batch 4 --seconds 3 --steps 2
    python benchmarks/finetune_throughput.py --config care_base --batch 16 64 --seconds 5 \\
        --device cuda --precision bf16 --steps 10 --json finetune.json

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch

from care.architectures import architecture_file
from care.lobes.frontend import POOLED_WIDTH
from care.probing.finetune import set_trainable
from care.probing.finetune_loop import make_brain

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "EmoDB" / "emotion" / "hparams" / "finetune.yaml"


def measure(config, batch, seconds, steps, warmup, device, precision, folder):
    """One configuration: ``{"audio_s_per_s", "step_s", "peak_memory_gb", ...}``."""
    with open(RECIPE, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, {"data_folder": folder, "output_folder": folder,
                                            "freeze_encoder_steps": 0, "batch_size": batch,
                                            "precision": precision, "eval_precision": precision})
    with open(architecture_file(config), encoding="utf-8") as handle:
        encoder = load_hyperpyyaml(handle, {"speech_source": None, "text_source": None})["encoder"]
    trainable = set_trainable(encoder, hparams["train_parts"])
    per_layer = encoder.config["d_model"] * POOLED_WIDTH[hparams["pooling"]]  # the recipe's pooling
    head = hparams["head_class"](num_layers=encoder.num_hidden_states, input_dim=per_layer, num_classes=7)
    model = {"encoder": encoder, "head": head, "trainable": trainable}
    brain, _ = make_brain(hparams, {"device": device, "precision": precision}, model,
                          [None] * batch * (steps + warmup), folder, epochs=1)
    brain.on_fit_start()
    brain.modules.train()
    samples = int(seconds * 16000)
    generator = torch.Generator().manual_seed(0)
    items = [{"id": str(i), "sig": 0.1 * torch.randn(samples, generator=generator),
              "label_index": torch.LongTensor([i % 7])} for i in range(batch)]
    data = PaddedBatch(items)
    for _ in range(warmup):
        brain.fit_batch(data)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(steps):
        loss = brain.fit_batch(data)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    step = (time.perf_counter() - started) / steps
    return {
        "config": config, "batch": batch, "seconds": seconds, "device": device, "precision": precision,
        "trainable_parameters_m": round(sum(trainable.values()) / 1e6, 1),
        "step_s": round(step, 4), "audio_s_per_s": round(batch * seconds / step, 1),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.startswith("cuda") else None,
        "loss": float(loss),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="care_small", help="an architecture of care/architectures")
    parser.add_argument("--batch", type=int, nargs="+", default=[4], help="clips per step")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of every clip (s)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    rows = []
    for batch in args.batch:
        with tempfile.TemporaryDirectory() as folder:
            rows.append(measure(args.config, batch, args.seconds, args.steps, args.warmup, args.device,
                                args.precision, folder))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}"
          + (f", {torch.cuda.get_device_name()}" if args.device.startswith("cuda") else ""))


if __name__ == "__main__":
    main()
