"""Per-layer pooled features of a frozen encoder, extracted once per
(encoder, dataset) and cached, so that every fold and seed of a probe reuses
them and probe training takes seconds.

The cache file holds ``{"key", "ids", "features" [N, layers, dim], "info"}``.
Its key hashes the extractor (:func:`care.probing.extractors.extractor_fingerprint`:
class, YAML, weights) and the data (utterance ids, relative paths, file sizes
and modification times): change either and the features are extracted again.
Writes are atomic; an interrupted extraction resumes from a ``.partial`` file
saved every ``save_every`` batches.

Example
-------
>>> import os, tempfile, torch
>>> from speechbrain.dataio import audio_io
>>> folder = tempfile.mkdtemp()
>>> for name in ("a", "b"):
...     audio_io.save(os.path.join(folder, name + ".wav"), torch.randn(1, 8000) * 0.1, 16000)
>>> data = {n: {"wav": "{data_root}/" + n + ".wav", "duration": 0.5} for n in ("a", "b")}
>>> class Mean(torch.nn.Module):
...     num_layers, dim = 1, 1
...     def forward(self, wavs, wav_lens): return wavs.abs().mean(-1)[:, None, None]
...     def export_yaml(self): return ["!new:Mean"]
>>> ids, feats = cached_features(Mean(), data, folder, os.path.join(folder, "cache.pt"))
>>> ids, feats.shape
(['a', 'b'], torch.Size([2, 1, 1]))

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import hashlib
import json
import os
import time

import torch
import speechbrain as sb
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.io import fingerprint, save_torch
from care.processing.audio import SAMPLE_RATE, load_audio
from care.processing.manifest import resolve_wav
from care.probing.extractors import extractor_fingerprint

logger = get_logger(__name__)


def data_fingerprint(data, data_folder):
    """:func:`care.io.fingerprint` of the manifest's audio files, each named
    by its utterance id and manifest path."""
    return fingerprint({
        f"{utt}\0{entry['wav']}": resolve_wav(entry["wav"], data_folder)
        for utt, entry in data.items()
    })  # fmt: skip


def cache_key(extractor, data, data_folder, clip_rule=None):
    """The key a cache must carry to be reused for ``extractor`` on ``data``
    (and ``clip_rule``, when one is set)."""
    rule = "" if not clip_rule else json.dumps(dict(clip_rule), sort_keys=True)
    return hashlib.sha256(
        (extractor_fingerprint(extractor) + data_fingerprint(data, data_folder) + rule).encode()
    ).hexdigest()


def apply_clip_rule(sig, utt, clip_rule, sample_rate=SAMPLE_RATE):
    """The authors' extraction rule (iiscleap/CARE, ``downstream/get_wavlm_feats.py``):
    a clip longer than ``max_seconds`` is replaced by a random crop of
    ``crop_seconds``; one shorter than ``min_seconds`` is zero-padded at its
    end to ``pad_seconds`` (the padding is then part of the clip, as in their
    code, which encodes one clip at a time). The crop start is drawn from a
    generator seeded by the utterance id, so extraction is reproducible.

    Arguments
    ---------
    sig : torch.Tensor
        ``[samples]`` at ``sample_rate``.
    utt : str
        The utterance id (seeds the crop).
    clip_rule : dict
        ``max_seconds``, ``crop_seconds``, ``min_seconds``, ``pad_seconds``.
    sample_rate : int
        Hz.

    Returns
    -------
    torch.Tensor
        The clip to encode.

    Example
    -------
    >>> rule = {"max_seconds": 20, "crop_seconds": 5, "min_seconds": 0.5, "pad_seconds": 5}
    >>> [apply_clip_rule(torch.ones(n * 16000), "u", rule).shape[0] / 16000 for n in (25, 10)]
    [5.0, 10.0]
    >>> short = apply_clip_rule(torch.ones(4000), "u", rule)
    >>> short.shape[0] / 16000, short[3999].item(), short[4000].item()
    (5.0, 1.0, 0.0)
    """
    samples = sig.shape[0]
    if samples > clip_rule["max_seconds"] * sample_rate:
        crop = int(clip_rule["crop_seconds"] * sample_rate)
        seed = int(hashlib.sha256(utt.encode()).hexdigest()[:15], 16)
        start = int(torch.randint(0, samples - crop, (1,), generator=torch.Generator().manual_seed(seed)))
        return sig[start:start + crop]
    if samples < clip_rule["min_seconds"] * sample_rate:
        return torch.nn.functional.pad(sig, (0, int(clip_rule["pad_seconds"] * sample_rate) - samples))
    return sig


def cache_info(cache_path):
    """The ``info`` a cache file was saved with (extraction time, shape)."""
    return torch.load(cache_path, map_location="cpu", weights_only=True).get("info", {})


def cached_features(
    extractor,
    data,
    data_folder,
    cache_path,
    batch_size=8,
    device="cpu",
    save_every=20,
    num_workers=0,
    progressbar=True,
    clip_rule=None,
):
    """Per-layer pooled features of every utterance of ``data``, from
    ``cache_path`` when its key matches, else extracted and cached.

    Arguments
    ---------
    extractor : torch.nn.Module
        ``forward(wavs, wav_lens) -> [batch, layers, dim]``.
    data : dict
        A manifest (``{utt_id: {"wav": "{data_root}/...", "duration": s, ...}}``).
    data_folder : str
        Replaces ``{data_root}``.
    cache_path : str
        The cache file.
    batch_size : int
        Utterances per forward pass (sorted by duration, so little padding).
    device : str
        Where the extractor runs.
    save_every : int
        Batches between two saves of the partial cache (resumption).
    num_workers : int
        Audio-loading workers.
    progressbar : bool
        Show a tqdm bar.
    clip_rule : dict, optional
        Crop long and pad short clips before encoding (:func:`apply_clip_rule`);
        None: whole clips.

    Returns
    -------
    (list of str, torch.Tensor)
        Sorted utterance ids and their features ``[N, layers, dim]`` (float32, CPU).
    """
    key = cache_key(extractor, data, data_folder, clip_rule)
    ids = sorted(data)
    if os.path.isfile(cache_path):
        cache = torch.load(cache_path, map_location="cpu", weights_only=True)
        if cache.get("key") == key and cache.get("ids") == ids:
            logger.info(f"Reusing cached features {cache_path} {tuple(cache['features'].shape)}")
            return ids, cache["features"]
        logger.info(f"{cache_path} was made for another encoder or data; extracting again")

    partial_path = cache_path + ".partial"
    done = {}
    if os.path.isfile(partial_path):
        partial = torch.load(partial_path, map_location="cpu", weights_only=True)
        if partial.get("key") == key:
            done = dict(zip(partial["ids"], partial["features"]))
            logger.info(f"Resuming extraction: {len(done)} of {len(ids)} utterances done")

    todo = {utt: data[utt] for utt in ids if utt not in done}
    started = time.time()
    if todo:
        _extract(
            extractor, todo, data_folder, done, key, partial_path, batch_size, device,
            save_every, num_workers, progressbar, clip_rule,
        )
    features = torch.stack([done[utt] for utt in ids])
    info = {
        "extraction_seconds": round(time.time() - started, 1),
        "utterances": len(ids),
        "shape": list(features.shape),
    }
    save_torch({"key": key, "ids": ids, "features": features, "info": info}, cache_path)
    if os.path.isfile(partial_path):
        os.remove(partial_path)
    logger.info(f"Cached features {tuple(features.shape)} in {cache_path} ({info})")
    return ids, features


def _extract(
    extractor, todo, data_folder, done, key, partial_path, batch_size, device, save_every,
    num_workers, progressbar, clip_rule,
):
    dataset = sb.dataio.dataset.DynamicItemDataset({u: dict(e) for u, e in todo.items()})

    @sb.utils.data_pipeline.takes("id", "wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(utt, wav):
        sig = load_audio(resolve_wav(wav, data_folder), SAMPLE_RATE)
        return sig if not clip_rule else apply_clip_rule(sig, utt, clip_rule)

    sb.dataio.dataset.add_dynamic_item([dataset], audio_pipeline)
    dataset.set_output_keys(["id", "sig"])
    dataset = dataset.filtered_sorted(sort_key="duration", reverse=True)
    loader = sb.dataio.dataloader.make_dataloader(
        dataset, batch_size=batch_size, num_workers=num_workers
    )
    extractor = extractor.to(device).eval()
    with torch.no_grad():
        for step, batch in enumerate(
            tqdm(loader, desc="features", dynamic_ncols=True, disable=not progressbar), 1
        ):
            wavs, lens = batch.sig
            feats = extractor(wavs.to(device), lens.to(device)).float().cpu()
            if not torch.isfinite(feats).all():
                raise ValueError(f"non-finite features for one of {batch.id}")
            done.update(zip(batch.id, feats))
            if step % save_every == 0:
                utts = sorted(done)
                save_torch(
                    {"key": key, "ids": utts, "features": torch.stack([done[u] for u in utts])},
                    partial_path,
                )
