#!/usr/bin/env python3
"""Peak memory and time of reading and resampling a recording whose sample
rate is coprime with 16 kHz, against the same clip at a common rate.

torchaudio's polyphase resampler builds one filter per output phase for the
rates reduced by their greatest common divisor: ``[16000, 8001 + taps]``
values for 8001 Hz. ``care.processing.audio.resampling_ratio`` keeps every
kernel under ``MAX_KERNEL`` values. This script writes ``--seconds`` of noise
at each ``--rates`` value, then reads it as ``care-classify`` does
(:class:`care.processing.stream.AudioStream`, ``--window`` / ``--hop``
seconds), one fresh process per rate, and prints the peak resident memory of
that process and the seconds spent reading and resampling.

    python benchmarks/odd_rates.py --rates 8000 8001 16001 100003
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def one_process(path, window, hop):
    import torch  # noqa: F401 (its memory counts in both rows alike)

    from care.processing.audio import resampling_ratio
    from care.processing.stream import AudioStream

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with AudioStream(path) as stream:
        window_samples, hop_samples = round(window * 16000), round(hop * 16000)
        first = 0
        while True:
            stream.read(first, first + window_samples)
            if first + window_samples >= stream.num_samples:
                break
            first += hop_samples
        rate = stream.file_rate
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rate": rate, "ratio": "%d/%d" % resampling_ratio(rate), "seconds": seconds,
            "peak_mb": peak / 1024, "growth_mb": (peak - base) / 1024}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[8000, 8001, 16001, 100003])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (s)")
    parser.add_argument("--window", type=float, default=8.0, help="window (s), as care-classify")
    parser.add_argument("--hop", type=float, default=4.0, help="hop (s), as care-classify")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_process(args.child, args.window, args.hop)))
        return
    import torch
    from speechbrain.dataio import audio_io

    print("| file rate (Hz) | resampled as | s reading + resampling | peak RSS (MB) "
          "| RSS growth while reading (MB) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for rate in args.rates:
            path = os.path.join(folder, f"noise_{rate}.wav")
            noise = 0.3 * torch.rand(1, int(args.seconds * rate)) - 0.15
            audio_io.save(path, noise, rate)
            out = subprocess.run(
                [sys.executable, __file__, "--child", path, "--window", str(args.window),
                 "--hop", str(args.hop)], check=True, capture_output=True, text=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {rate} | {row['ratio']} | {row['seconds']:.2f} | {row['peak_mb']:.0f} "
                  f"| {row['growth_mb']:.0f} |")


if __name__ == "__main__":
    main()
