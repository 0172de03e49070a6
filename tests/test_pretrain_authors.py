"""The authors' training setup (hparams/care_base_authors.yaml) end to end on
generated audio, with care_small's architecture in place of care_base's (no
hub here): PASE+-shaped ``.npy`` targets normalised per utterance, clips
without a transcript dropped, constant lr, fixed padded batches, and the
encoder exported from the checkpoint with the lowest validation loss."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from speechbrain.dataio import audio_io

from care.architectures import architecture_file
from care.lobes import load_encoder
from care.lobes.frontend import conv_output_lengths

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "recipes" / "Pretrain" / "train.py"
HPARAMS = REPO / "recipes" / "Pretrain" / "hparams"
sys.path.insert(0, str(Path(__file__).parent))
from conftest import generated_clips  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Generated clips of four 'speakers', transcripts for two in three, and a
    256-d ``.npy`` per clip on the 50 Hz grid (offset per clip, so that
    utterance and crop statistics differ)."""
    root = tmp_path_factory.mktemp("corpus")
    pase = tmp_path_factory.mktemp("pase")
    rng = np.random.default_rng(0)
    rows = ["file,text,speaker"]
    for index, clip in enumerate(generated_clips() * 2):
        name = f"utt{index}.wav"
        audio_io.save(str(root / name), clip.unsqueeze(0), 16000)
        text = f"generated sentence number {index}" if index % 3 else ""
        rows.append(f"{name},{text},spk{index % 4}")
        frames = conv_output_lengths(len(clip))
        values = rng.normal(index, 1.0 + index, size=(frames, 256)).astype(np.float32)
        np.save(pase / f"utt{index}.npy", values)
    (root / "transcripts.csv").write_text("\n".join(rows) + "\n")
    return root, pase


def test_authors_setup_end_to_end(corpus, tmp_path, minilm_path):
    root, pase = corpus
    text = (HPARAMS / "care_base_authors.yaml").read_text()
    small = architecture_file("care_small")
    assert "!include:../../../care/architectures/care_base.yaml" in text
    hparams_file = tmp_path / "authors_small.yaml"
    hparams_file.write_text(
        text.replace("!include:../../../care/architectures/care_base.yaml", f"!include:{small}")
    )
    output = tmp_path / "run"

    def run():
        result = subprocess.run(
            [sys.executable, str(TRAIN), str(hparams_file),
             "--data_folder", str(root), "--pase_folder", str(pase), "--output_folder", str(output),
             "--speech_source", "null", "--text_source", str(minilm_path),
             "--text_teacher", f"{{source: {minilm_path}, pooling: auto, local_files_only: True}}",
             "--min_duration", "1.0", "--valid_ratio", "0.3", "--crop_seconds", "1.0",
             "--batch_size", "2", "--log_interval", "1", "--optimizer_step_limit", "4",
             "--train_dataloader_opts", "{num_workers: 0}",
             "--valid_dataloader_opts", "{batch_size: 2, num_workers: 0}"],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]

    def assert_exported(checkpoint):
        encoder = load_encoder(str(output / "encoder"))
        assert encoder.acoustic_head.out_features == 256
        state = torch.load(checkpoint / "encoder.ckpt", map_location="cpu")
        for name, value in encoder.state_dict().items():
            torch.testing.assert_close(value, state[name], msg=name)
        exported = (output / "encoder" / "hyperparams.yaml").read_text()
        assert re.search(r"weights: best\s+validation loss", exported)

    run()
    log = (output / "train_log.txt").read_text()
    assert set(re.findall(r"train lr: ([0-9.e+-]+)", log)) == {"1.00e-05"}  # constant
    assert "left out (require_text)" in (output / "log.txt").read_text()

    # A checkpoint after each validation carries its loss; the lowest is exported.
    valid = {}
    for checkpoint in (output / "save").glob("CKPT+*"):
        meta = yaml.safe_load((checkpoint / "CKPT.yaml").read_text())
        if "valid_loss" in meta:
            valid[checkpoint] = meta
    assert len(valid) == 2, "one checkpoint per validation (2 epochs of 2 steps)"
    assert_exported(min(valid, key=lambda c: valid[c]["valid_loss"]))

    # Make the earlier one the best: the finished run, started again, trains
    # no step and exports that one (not the final weights).
    earlier = min(valid, key=lambda c: valid[c]["step"])
    final = torch.load(max(valid, key=lambda c: valid[c]["step"]) / "encoder.ckpt")
    state = torch.load(earlier / "encoder.ckpt")
    assert any(not torch.equal(value, final[name]) for name, value in state.items())
    meta = dict(valid[earlier], valid_loss=0.001)
    (earlier / "CKPT.yaml").write_text(yaml.safe_dump(meta))
    run()
    assert_exported(earlier)


def test_on_the_fly_targets_normalised_per_utterance(tmp_path, tiny_kwargs):
    """With ``VocalFeatureTargets(normalise="utterance")`` the data pipeline
    hands each crop its utterance's cached statistics and the training step
    normalises the crop's targets with them, as if the whole utterance had
    been normalised then cropped."""
    import json

    import speechbrain as sb
    from speechbrain.dataio.batch import PaddedBatch

    from care.lobes import CAREEncoder
    from care.pretraining import CAREPretrainer, pretraining_datasets
    from care.processing import TextTargets, VocalFeatureTargets
    from care.processing.frame_targets import normalise_targets

    entries = {}
    for index, clip in enumerate(generated_clips()[:4]):
        path = tmp_path / f"utt{index}.wav"
        audio_io.save(str(path), clip.unsqueeze(0), 16000)
        entries[f"utt{index}"] = {"wav": "{data_root}/" + path.name, "duration": len(clip) / 16000}
    for split in ("train", "valid"):
        (tmp_path / f"{split}.json").write_text(json.dumps(entries))
    targets = VocalFeatureTargets(normalise="utterance", stats_folder=str(tmp_path / "stats"))
    resolved = {k: {"wav": str(tmp_path / f"{k}.wav")} for k in entries}
    assert targets.prepare(resolved) == set(entries)
    encoder = CAREEncoder(**dict(tiny_kwargs, target_dim=targets.dim))
    hparams = {
        "train_manifest": str(tmp_path / "train.json"), "valid_manifest": str(tmp_path / "valid.json"),
        "data_folder": str(tmp_path), "crop_seconds": 1.0, "frame_targets": targets,
        "encoder": encoder, "require_text": True,
    }
    text = TextTargets(torch.randn(3, tiny_kwargs["text_dim"]), {"utt0": 0, "utt1": 1, "utt3": 2})
    datasets = pretraining_datasets(hparams, text)
    assert len(datasets["train"]) == 3  # utt2 has no transcript
    batch = PaddedBatch([datasets["valid"][i] for i in range(3)])
    for index, utt_id in enumerate(batch.id):
        expected = targets.utterance_stats(utt_id, str(tmp_path / f"{utt_id}.wav"))
        assert torch.equal(batch.frame_target_stats.data[index], expected)

    seen = {}

    def recording(wavs, wav_lens=None, stats=None):
        seen["stats"] = stats
        return VocalFeatureTargets.forward(targets, wavs, wav_lens, stats)

    brain = CAREPretrainer(
        modules={"encoder": encoder},
        hparams={"frame_targets": targets, "semantic_weight": 1.0, "acoustic_weight": 1.0},
        run_opts={"device": "cpu"},
    )
    targets.forward = recording
    brain.on_stage_start(sb.Stage.VALID)
    predictions = brain.compute_forward(batch, sb.Stage.VALID)
    loss = brain.compute_objectives(predictions, batch, sb.Stage.VALID)
    assert torch.isfinite(loss)
    assert torch.equal(seen["stats"], batch.frame_target_stats.data)
    raw = VocalFeatureTargets(normalise=False)
    wavs, lens = batch.sig
    crop, frame_lens = raw(wavs, lens)
    frames = torch.round(frame_lens * crop.shape[1]).long()
    expected = normalise_targets(crop, frames, batch.frame_target_stats.data)
    produced, _ = targets(wavs, lens, stats=batch.frame_target_stats.data)
    torch.testing.assert_close(produced, expected)
