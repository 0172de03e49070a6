"""Frame-level acoustic targets for CARE's acoustic branch.

Every backend returns targets on the encoder's frame grid
(:class:`care.lobes.frontend.FrameGrid`): frame ``i`` of a clip describes the
audio around the centre of the encoder's receptive field
``[hop * i, hop * i + field)`` (16 kHz), and a clip of ``S`` samples has
exactly ``grid.num_frames(S)`` frames. Targets are normalised
``(x - mean) / (std + 1)`` per feature (population std), padding frames are
zero, and every value is finite (silence, unvoiced frames, clipping, clips
shorter than one frame). Every backend takes ``normalise``:

- ``"crop"`` (the default): statistics over the valid frames of the training
  crop itself, so that a target depends only on the audio the encoder sees;
- ``"utterance"``: statistics over the whole utterance, then the crop is cut,
  as the authors' code does (``dataset_pase.py`` in iiscleap/CARE normalises a
  whole utterance's PASE+ frames, then crops). The disk backends read the
  whole utterance's frames (an openSMILE cache entry holds them; a ``.npy``
  file is read whole instead of only the crop's rows). The on-the-fly backend
  never sees the whole utterance in a training step: its ``prepare`` computes
  each utterance's statistics once and caches them (``stats_folder``), the
  data pipeline provides them per item (``utterance_stats``) and ``forward``
  takes them (``stats``).

Three backends, chosen in YAML (all have ``dim`` and ``on_the_fly``):

- :class:`VocalFeatureTargets` (``on_the_fly = True``): an ``nn.Module``
  computing SpeechBrain's vocal features (F0, HNR, jitter, shimmer, optional
  GNE, spectral statistics, MFCC) plus optional log-mel energies and loudness,
  batched on the training device inside ``compute_objectives``; no disk cache::

      frame_targets: !new:care.processing.VocalFeatureTargets
          n_mfcc: 13
      # in compute_objectives:  targets, lens = self.hparams.frame_targets(wavs, wav_lens)

- :class:`OpenSmileTargets` (``on_the_fly = False``): eGeMAPS low-level
  descriptors (25 per frame; this project's default for ``care_base``: no
  model weights needed) extracted once per corpus with
  ``prepare`` (parallel, progress bar) and cached on disk, one entry per
  utterance keyed by file identity and extractor settings;
- :class:`NpyTargets` (``on_the_fly = False``): precomputed ``T x D`` features
  from a folder of ``<utt_id>.npy`` (e.g. PASE+, the 256-d targets of the
  authors' code; ``recipes/Pretrain/README.md`` says how to extract them).

The two disk backends are used in the data pipeline: call
``prepare(entries)`` once (on the main process) and then
``crop(utt_id, path, start, num_samples)`` for each training crop.

One module per backend: ``vocal.py``, ``opensmile.py``, ``npy.py`` (the last
two share ``disk.py``); ``common.py`` holds the normalisation and the cache
key they share.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

from care.processing.frame_targets.common import (
    CACHE_VERSION,
    NORMALISE,
    normalise_targets,
    utterance_stats,
)
from care.processing.frame_targets.npy import NpyTargets
from care.processing.frame_targets.opensmile import OpenSmileTargets
from care.processing.frame_targets.vocal import VocalFeatureTargets

__all__ = [
    "CACHE_VERSION",
    "NORMALISE",
    "NpyTargets",
    "OpenSmileTargets",
    "VocalFeatureTargets",
    "normalise_targets",
    "utterance_stats",
]
