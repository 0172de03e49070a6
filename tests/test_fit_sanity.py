"""Sanity of pretraining: can the model fit at all?

A model that cannot bring its loss on one fixed batch of real speech far below
the loss of a constant predictor has a broken loss, gradient route, target or
data pipeline, whatever its corpus-level numbers say. Two checks:

* the encoder alone, a few dozen AdamW steps on one batch of the LJSpeech clips
  in ``tests/samples`` (real speech, always present), for both gradient
  routings: the acoustic loss must end far below predicting zero;
* the same through the recipe's ``CAREPretrainer`` with its data pipeline
  (``care.pretraining.pretraining_datasets``: manifest, crops, text targets,
  on-the-fly targets inside the step) on a tiny manifest of two clips shorter
  than the crop (so every step sees the same batch): the logged training loss
  must end far below the logged predict-zero loss of the same frames, so a
  mismatch between the audio the encoder sees and the targets computed for it
  fails here.
"""

import json
import re
from pathlib import Path

import pytest
import torch

from care.lobes import CAREEncoder
from care.processing import VocalFeatureTargets
from conftest import TINY_ENCODER, load_16k

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "samples" / "ljspeech"
CLIPS = ["LJ001-0002", "LJ001-0004", "LJ001-0008"]


def fixed_batch(seconds=1.6):
    """The three sample clips, each cut to its first ``seconds``: ``[3, samples]``."""
    samples = int(seconds * 16000)
    return torch.stack([load_16k(SAMPLES / "wavs" / f"{clip}.flac")[:samples] for clip in CLIPS])


@pytest.mark.parametrize("detach_acoustic", [True, False], ids=["paper_routing", "acoustic_trains_shared"])
def test_fit_one_fixed_batch(detach_acoustic):
    torch.manual_seed(0)
    targets_fn = VocalFeatureTargets()
    wavs = fixed_batch()
    lens = torch.ones(len(wavs))
    targets, _ = targets_fn(wavs, lens)
    predict_zero = (targets**2).mean().item()
    encoder = CAREEncoder(
        **dict(TINY_ENCODER, target_dim=targets_fn.dim, dropout=0.0, attention_dropout=0.0),
        detach_acoustic=detach_acoustic,
    )
    optimizer = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(40):
        out = encoder(wavs, lens, output_hidden_states=False)
        loss = ((out.acoustic - targets) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    encoder.eval()
    with torch.no_grad():
        final = ((encoder(wavs, lens, output_hidden_states=False).acoustic - targets) ** 2).mean().item()
    assert final < 0.5 * predict_zero, f"acoustic {final:.3f} vs predict-zero {predict_zero:.3f}"


def test_pretrainer_fits_a_fixed_batch(tmp_path):
    """``CAREPretrainer`` with the recipe's data pipeline (manifest, crops,
    text targets, on-the-fly frame targets inside the step), a tiny encoder:
    two clips shorter than the crop, batches of two, so every step sees the
    same audio (up to order). The last logged training interval must have ``acoustic_vs_zero``
    (our loss over the predict-zero loss of the same frames) far below 1."""
    import speechbrain as sb
    from speechbrain.nnet.schedulers import LinearWarmupScheduler
    from speechbrain.utils.epoch_loop import EpochCounter
    from speechbrain.utils.train_logger import FileTrainLogger

    from care.checkpoints import AtomicCheckpointer
    from care.pretraining import CAREPretrainer, pretraining_datasets
    from care.processing import TextTargets

    torch.manual_seed(0)
    manifest = {  # the same two clips listed 10 times: 10 steps per epoch
        f"{clip}_{copy}": {"wav": f"{{data_root}}/wavs/{clip}.flac", "duration": 1.9, "corpus": "ljspeech"}
        for copy in range(10)
        for clip in ("LJ001-0002", "LJ001-0008")
    }
    (tmp_path / "train.json").write_text(json.dumps(manifest))
    (tmp_path / "valid.json").write_text("{}")
    frame_targets = VocalFeatureTargets()
    encoder = CAREEncoder(**dict(TINY_ENCODER, target_dim=frame_targets.dim), detach_acoustic=False)
    text = TextTargets(torch.nn.functional.normalize(torch.randn(2, 48), dim=-1), {k: i % 2 for i, k in enumerate(manifest)})
    steps = 60
    hparams = {
        "train_manifest": str(tmp_path / "train.json"), "valid_manifest": str(tmp_path / "valid.json"),
        "data_folder": str(SAMPLES), "crop_seconds": 2.0, "pad_to_crop": False,
        "frame_targets": frame_targets, "encoder": encoder,
        "semantic_weight": 1.0, "acoustic_weight": 1.0, "log_interval": 10, "checkpoints_to_keep": 1,
        "lr_scheduler": LinearWarmupScheduler(initial_value=3e-3, num_warmup_steps=5, num_training_steps=steps),
        "train_logger": FileTrainLogger(str(tmp_path / "train_log.txt")),
        "epoch_counter": EpochCounter(steps // 10),
    }
    checkpointer = AtomicCheckpointer(str(tmp_path / "save"), recoverables={"encoder": encoder})
    brain = CAREPretrainer(
        modules={"encoder": encoder}, opt_class=lambda params: torch.optim.AdamW(params, lr=3e-3),
        hparams=hparams, run_opts={"device": "cpu", "noprogressbar": True}, checkpointer=checkpointer,
    )
    datasets = pretraining_datasets(hparams, text)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only contend on a busy machine
    try:
        brain.fit(hparams["epoch_counter"], datasets["train"], train_loader_kwargs={"batch_size": 2})
    finally:
        torch.set_num_threads(threads)
    log = (tmp_path / "train_log.txt").read_text()
    ratios = [float(x) for x in re.findall(r"^step: \d+ .*?train acoustic_vs_zero: ([\d.e+-]+)", log, re.M)]
    assert len(ratios) == steps // 10, log
    assert ratios[-1] < 0.5 * ratios[0] and ratios[-1] < 0.5, log
