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
  batched on the training device inside ``compute_forward``; no disk cache::

      frame_targets: !new:care.processing.VocalFeatureTargets
          n_mfcc: 13
      # in compute_forward:  targets, lens = self.hparams.frame_targets(wavs, wav_lens)

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

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import concurrent.futures
import math
import multiprocessing
import os
import warnings

import numpy as np
import torch
from speechbrain.processing.features import DCT, Filterbank
from speechbrain.processing.vocal_features import (
    compute_gne,
    compute_periodic_features,
    compute_spectral_features,
)
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.io import fingerprint, save_torch
from care.lobes.frontend import (
    WAVLM_GRID,
    WAVLM_KERNEL_SIZES,
    WAVLM_STRIDES,
    FrameGrid,
    length_mask,
)
from care.processing.audio import SAMPLE_RATE, AudioError, audio_info, load_audio

logger = get_logger(__name__)

CACHE_VERSION = 1  # bump when the cached representation changes


NORMALISE = ("crop", "utterance")


def _check_normalise(normalise, allow_raw=False):
    """The normalisation mode (``True`` is ``"crop"``; ``False``, raw, where allowed)."""
    if normalise is True:
        return "crop"
    if normalise is False and allow_raw:
        return None
    if normalise not in NORMALISE:
        raise ValueError(f"normalise must be one of {NORMALISE}, got {normalise!r}")
    return normalise


def utterance_stats(features):
    """Per-feature mean and population std of ``features`` ``[frames, dim]``,
    stacked ``[2, dim]`` (zeros for an empty utterance).

    Example
    -------
    >>> utterance_stats(torch.tensor([[1.0], [3.0]]))
    tensor([[2.],
            [1.]])
    """
    if features.shape[0] == 0:
        return features.new_zeros(2, features.shape[1])
    features = features.double()
    mean = features.mean(dim=0)
    std = (features - mean).pow(2).mean(dim=0).sqrt()
    return torch.stack([mean, std]).float()


def normalise_targets(targets, frame_lengths, stats=None):
    """``(x - mean) / (std + 1)`` per feature (population std) over the valid
    frames, as the authors' code normalises, padding frames set to zero.

    Arguments
    ---------
    targets : torch.Tensor
        ``[batch, time, dim]`` raw features.
    frame_lengths : torch.Tensor
        ``[batch]`` valid frames of each utterance (may be zero).
    stats : torch.Tensor, optional
        ``[batch, 2, dim]`` mean and std to use (e.g. of the whole utterance
        a crop comes from, :func:`utterance_stats`); default: those of the
        valid frames of ``targets``.

    Returns
    -------
    torch.Tensor
        ``[batch, time, dim]`` normalised, finite where the input is finite.

    Example
    -------
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> normalise_targets(x, torch.tensor([2]))
    tensor([[[-0.5000],
             [ 0.5000],
             [ 0.0000]]])
    >>> normalise_targets(x, torch.tensor([2]), stats=torch.tensor([[[3.0], [1.0]]]))
    tensor([[[-1.],
             [ 0.],
             [ 0.]]])
    """
    mask = length_mask(frame_lengths.to(targets.device), targets.shape[1]).unsqueeze(-1)
    if stats is not None:
        stats = stats.to(targets.device, targets.dtype)
        centred = (targets - stats[:, :1]).masked_fill(~mask, 0.0)
        return centred / (stats[:, 1:] + 1.0)
    count = frame_lengths.to(targets.device).clamp(min=1).view(-1, 1, 1).to(targets.dtype)
    x = targets.masked_fill(~mask, 0.0)
    mean = x.sum(dim=1, keepdim=True) / count
    centred = (x - mean).masked_fill(~mask, 0.0)
    std = (centred.pow(2).sum(dim=1, keepdim=True) / count).sqrt()
    return centred / (std + 1.0)


def _fft_autocorrelation(frames, window):
    """Circular autocorrelation of Hann-windowed frames for lags
    ``0 .. size // 2``, normalised by the frame energy and by the window's own
    autocorrelation (Boersma, 1993). The same values as SpeechBrain's
    ``vocal_features.autocorrelate`` (a grouped convolution), through one FFT."""
    size = frames.shape[-1]
    spectrum = torch.fft.rfft(frames * window, n=size)
    acf = torch.fft.irfft(spectrum.real.pow(2) + spectrum.imag.pow(2), n=size)
    acf = acf[..., : size // 2 + 1]
    acf = acf / acf[..., :1].clamp(min=1e-10)
    window_spectrum = torch.fft.rfft(window, n=size)
    window_acf = torch.fft.irfft(window_spectrum.abs().pow(2), n=size)[: size // 2 + 1]
    return acf / (window_acf / window_acf[0]).clamp(min=1e-10)


def _edge_fill(x, frame_lengths):
    """Replaces the frames of ``x`` ``[batch, time]`` at or beyond each valid
    length by the last valid frame (so that filters see the same values for a
    clip alone and padded in a batch)."""
    steps = torch.arange(x.shape[1], device=x.device)
    last = (frame_lengths.to(x.device) - 1).clamp(min=0).unsqueeze(1)
    return x.gather(1, torch.minimum(steps.unsqueeze(0), last))


def _masked_moving_average(x, mask, n):
    """Centred moving average of ``n`` frames over the valid frames only;
    ``x`` ``[batch, time, dim]``, ``mask`` ``[batch, time, 1]``."""
    if n <= 1:
        return x
    weights = mask.to(x.dtype)
    kernel = torch.ones(1, 1, n, device=x.device, dtype=x.dtype)
    batch, time, dim = x.shape
    summed = torch.nn.functional.conv1d(
        (x * weights).transpose(1, 2).reshape(batch * dim, 1, time), kernel, padding=n // 2
    ).view(batch, dim, -1)[..., :time]
    counts = torch.nn.functional.conv1d(weights.transpose(1, 2), kernel, padding=n // 2)
    return (summed / counts[..., :time].clamp(min=1)).transpose(1, 2)


class VocalFeatureTargets(torch.nn.Module):
    """Per-frame vocal features computed on the fly, batched on the training
    device, on the encoder's 50 Hz frame grid, normalised per utterance.

    Reuses SpeechBrain's ``speechbrain.processing.vocal_features``: periodic
    features (jitter, shimmer), spectral statistics and GNE are its functions;
    the autocorrelation (F0, HNR) is the same quantity computed with one FFT
    instead of a grouped convolution, and the analysis frames are centred on
    the encoder's frames (its ``FrameGrid`` hop) instead of a 10 ms grid.

    Features, in order (``names``):

    - ``f0_semitones``: F0 in semitones above 27.5 Hz on voiced frames, 0 on
      unvoiced or silent ones (eGeMAPS' convention);
    - ``hnr``, ``jitter``, ``shimmer`` (and ``gne`` when ``gne=True``), on
      SpeechBrain's log scale ``-10 log10(max(x, eps))``;
    - 8 spectral statistics (centroid, spread, skew, kurtosis, entropy,
      flatness, crest, flux);
    - ``n_mfcc`` MFCCs from ``n_mels`` mel bands;
    - ``n_mels`` log-mel energies (dB) when ``log_mels=True``;
    - ``loudness`` when ``loudness=True``: the sum of mel-band power raised to
      0.33 (an auditory-spectrum loudness as in openSMILE/eGeMAPS).

    Arguments
    ---------
    min_f0_Hz, max_f0_Hz : float
        F0 search range (Hz).
    window_size : float
        Analysis window (s); must hold 4 periods of ``min_f0_Hz``.
    voicing_threshold : float
        Normalised autocorrelation peak above which a frame is voiced.
    octave_cost : float
        Autocorrelation a lag must gain per octave over a shorter lag to be
        chosen (Praat's octave cost, against octave-down errors).
    silence_db : float
        Frames whose RMS is below this level (dB full scale) are unvoiced.
    eps : float
        Floor before the log of HNR, jitter, shimmer, GNE.
    n_mels, n_mfcc : int
        Mel bands and cepstral coefficients.
    log_mels, loudness, gne : bool
        Append log-mel energies, loudness, GNE (GNE costs about as much as all
        the rest together).
    smoothing : int
        Frames of a centred moving average over valid frames (1: none).
    normalise : str or bool
        ``"crop"`` (or True): statistics of the waveforms given to
        ``forward``; ``"utterance"``: statistics of the whole utterance,
        passed to ``forward`` as ``stats`` (:meth:`prepare` caches them,
        :meth:`utterance_stats` reads them); False: raw features.
    stats_folder : str, optional
        Where :meth:`prepare` caches the utterance statistics (needed with
        ``normalise="utterance"``).
    sample_rate : int
        Input rate (Hz).
    kernel_sizes, strides : sequence of int
        The encoder's convolution stack (its frame grid).

    Example
    -------
    >>> targets = VocalFeatureTargets()
    >>> feats, lens = targets(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
    >>> feats.shape, targets.dim, lens
    (torch.Size([2, 49, 26]), 26, tensor([1.0000, 0.4898]))
    """

    on_the_fly = True

    def __init__(
        self,
        min_f0_Hz=80.0,
        max_f0_Hz=400.0,
        window_size=0.05,
        voicing_threshold=0.45,
        octave_cost=0.02,
        silence_db=-60.0,
        eps=1e-3,
        n_mels=40,
        n_mfcc=13,
        log_mels=False,
        loudness=True,
        gne=False,
        smoothing=1,
        normalise="crop",
        stats_folder=None,
        sample_rate=SAMPLE_RATE,
        kernel_sizes=WAVLM_KERNEL_SIZES,
        strides=WAVLM_STRIDES,
    ):
        super().__init__()
        # What the raw features depend on (the key of cached utterance statistics).
        self.settings = {
            key: value for key, value in locals().items()
            if key not in ("self", "__class__", "normalise", "stats_folder")
        }
        self.settings.update(kernel_sizes=list(kernel_sizes), strides=list(strides))
        self.normalise = _check_normalise(normalise, allow_raw=True)
        self.needs_utterance_stats = self.normalise == "utterance"
        if self.needs_utterance_stats and stats_folder is None:
            raise ValueError(
                'normalise="utterance" needs a stats_folder for the utterance statistics'
            )
        self.stats_folder = stats_folder
        self._stats = None  # utterance statistics, loaded on first use
        self.sample_rate = sample_rate
        self.grid = FrameGrid(kernel_sizes, strides)
        self.kernel_sizes, self.strides = self.grid.kernel_sizes, self.grid.strides
        self.hop, self.field = self.grid.hop, self.grid.field
        self.window_samples = int(round(window_size * sample_rate))
        self.min_lag = int(sample_rate / max_f0_Hz)
        self.max_lag = int(sample_rate / min_f0_Hz)
        if 4 * self.max_lag > self.window_samples:
            raise ValueError(
                f"window_size {window_size} s must hold 4 periods of min_f0_Hz "
                f"{min_f0_Hz} Hz ({4 * self.max_lag} samples)"
            )
        self.voicing_threshold = voicing_threshold
        # Praat's octave cost: a longer lag must beat a shorter one by this
        # much per octave, so a periodic signal's period wins over its multiples.
        lag_range = torch.arange(self.min_lag, self.max_lag, dtype=torch.float32)
        self.register_buffer(
            "octave_penalty", octave_cost * torch.log2(lag_range / self.min_lag), persistent=False
        )
        self.silence_power = 10.0 ** (silence_db / 10.0)
        self.eps = eps
        self.log_mels, self.loudness, self.gne = log_mels, loudness, gne
        self.smoothing = smoothing
        self.compute_fbanks = Filterbank(
            n_mels=n_mels, log_mel=False, n_fft=self.window_samples, sample_rate=sample_rate
        )
        self.compute_dct = DCT(input_size=n_mels, n_out=n_mfcc)
        self.register_buffer(
            "window", torch.hann_window(self.window_samples), persistent=False
        )
        names = ["f0_semitones", "hnr", "jitter", "shimmer"] + (["gne"] if gne else [])
        names += ["centroid", "spread", "skew", "kurtosis", "entropy", "flatness", "crest", "flux"]
        names += [f"mfcc_{i}" for i in range(n_mfcc)]
        names += [f"log_mel_{i}" for i in range(n_mels)] if log_mels else []
        names += ["loudness"] if loudness else []
        self.names = names
        self.dim = len(names)

    def frame_lengths(self, num_samples):
        """Encoder frames for ``num_samples`` samples (int or tensor)."""
        return self.grid.num_frames(num_samples)

    def _frames(self, wavs, num_frames):
        """Analysis windows ``[batch, num_frames, window]`` centred on the
        encoder frames (zero padding outside the signal)."""
        left = self.window_samples // 2 - self.field // 2
        needed = (num_frames - 1) * self.hop + self.window_samples
        right = max(needed - left - wavs.shape[1], 0)
        padded = torch.nn.functional.pad(wavs, (max(left, 0), right))
        if left < 0:
            padded = padded[:, -left:]
        return padded.unfold(-1, self.window_samples, self.hop)[:, :num_frames], padded, left

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None, stats=None):
        """Computes the targets of a batch.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` at 16 kHz, zero-padded.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths in (0, 1] (all 1 when None).
        stats : torch.Tensor, optional
            ``[batch, 2, dim]`` statistics of each waveform's whole utterance
            (:meth:`utterance_stats`); required with ``normalise="utterance"``.

        Returns
        -------
        targets : torch.Tensor
            ``[batch, frames, dim]`` float32, ``frames`` the encoder's frame
            count for ``samples``.
        lengths : torch.Tensor
            ``[batch]`` relative lengths on the frame grid (as the encoder's).
        """
        if wavs.dim() != 2:
            raise ValueError(f"expected waveforms [batch, samples], got {tuple(wavs.shape)}")
        with torch.autocast(wavs.device.type, enabled=False):
            wavs = wavs.float()
            batch, max_samples = wavs.shape
            num_samples = self.grid.valid_samples(wav_lens, max_samples, wavs.device)
            time = self.frame_lengths(max_samples)
            if num_samples is None:
                frame_lengths = torch.full((batch,), time, device=wavs.device)
            else:
                frame_lengths = self.frame_lengths(num_samples)
                keep = torch.arange(max_samples, device=wavs.device) < num_samples.unsqueeze(1)
                wavs = wavs * keep
            lengths = frame_lengths.float() / max(time, 1)
            if time == 0:
                return wavs.new_zeros(batch, 0, self.dim), lengths
            features = self._features(wavs, time, frame_lengths)
            mask = length_mask(frame_lengths, time).unsqueeze(-1)
            features = _masked_moving_average(features, mask, self.smoothing)
            features = torch.nan_to_num(features, nan=0.0, posinf=0.0, neginf=0.0)
            if self.normalise is None:
                return features.masked_fill(~mask, 0.0), lengths
            if self.normalise == "utterance" and stats is None:
                raise ValueError(
                    'normalise="utterance" needs the utterance statistics: pass '
                    "stats (the data pipeline's utterance_stats of each item)"
                )
            return normalise_targets(features, frame_lengths, stats), lengths

    def stats_path(self):
        return os.path.join(self.stats_folder, "utterance_stats.pt")

    def _raw_stats(self, path):
        """Statistics of the raw features of a whole file (one forward pass)."""
        audio = load_audio(path).float()
        if self.frame_lengths(len(audio)) == 0:
            return torch.zeros(2, self.dim)
        normalise, self.normalise = self.normalise, None
        try:
            features, _ = self(audio.unsqueeze(0))
        finally:
            self.normalise = normalise
        return utterance_stats(features[0])

    def prepare(self, entries, num_workers=None, save_every=500):
        """With ``normalise="utterance"``, computes (once, cached in
        ``stats_folder``, keyed by file identity and feature settings) every
        utterance's feature statistics; unreadable files are skipped and
        counted in one log line. An interrupted run keeps what it saved
        (every ``save_every`` utterances, atomically). Otherwise nothing to do.

        Arguments
        ---------
        entries : dict
            ``utt_id -> {"wav": path, ...}`` (a manifest with paths resolved).
        num_workers : int, optional
            Accepted for interface parity (one process; torch threads).
        save_every : int
            Utterances between saves of the cache.

        Returns
        -------
        set
            The ids whose statistics are ready (all ids without utterance
            normalisation).
        """
        if not self.needs_utterance_stats:
            return set(entries)
        cached = self._load_stats()
        ready, failed, computed = set(), {}, 0
        todo = []
        for utt_id, entry in entries.items():
            try:
                key = _file_key(entry["wav"], self.settings)
            except OSError as error:
                failed[utt_id] = f"{entry['wav']}: {error.strerror}"
                continue
            if cached.get(utt_id, {}).get("key") == key:
                ready.add(utt_id)
            else:
                todo.append((utt_id, entry["wav"], key))
        for utt_id, path, key in tqdm(todo, desc="utterance statistics", dynamic_ncols=True):
            try:
                cached[utt_id] = {"key": key, "stats": self._raw_stats(path)}
            except (AudioError, RuntimeError, ValueError, OSError) as error:
                failed[utt_id] = str(error)
                continue
            ready.add(utt_id)
            computed += 1
            if computed % save_every == 0:
                save_torch(cached, self.stats_path())
        if computed:
            save_torch(cached, self.stats_path())
        self._stats = cached
        message = (
            f"utterance statistics in {self.stats_folder}: {len(entries)} utterances, "
            f"{len(ready) - computed} cached, {computed} computed, {len(failed)} skipped"
        )
        if failed:
            logger.warning(message + " (e.g. " + "; ".join(list(failed.values())[:3]) + ")")
        else:
            logger.info(message)
        return ready

    def _load_stats(self):
        path = self.stats_path()
        if not os.path.isfile(path):
            return {}
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # unreadable cache: compute again
            logger.warning("%s is unreadable; computing the utterance statistics again", path)
            return {}

    def utterance_stats(self, utt_id, path):
        """``[2, dim]`` mean and std of the raw features of the whole
        utterance: from the cache :meth:`prepare` wrote, computed (not
        cached) when the utterance is not there."""
        if self._stats is None:
            self._stats = self._load_stats()
        entry = self._stats.get(utt_id)
        if entry is not None:
            return entry["stats"]
        return self._raw_stats(path)

    def _features(self, wavs, time, frame_lengths):
        frames, padded, left = self._frames(wavs, time)
        window = self.window.to(frames.device)

        # F0 and harmonicity from the normalised autocorrelation peak.
        acf = _fft_autocorrelation(frames, window)[..., self.min_lag : self.max_lag]
        lags = (acf - self.octave_penalty.to(acf.device)).argmax(dim=-1)
        harmonicity = acf.gather(-1, lags.unsqueeze(-1)).squeeze(-1)
        lags = _edge_fill(lags, frame_lengths)  # median filter against octave jumps
        lags = torch.nn.functional.pad(lags.unsqueeze(1).float(), (1, 1), mode="replicate")
        lags = lags.squeeze(1).unfold(-1, 3, 1).median(dim=-1).values.long() + self.min_lag
        power = frames.pow(2).mean(dim=-1)
        voiced = (harmonicity > self.voicing_threshold) & (power > self.silence_power)
        f0 = self.sample_rate / lags.float()
        f0_semitones = torch.where(voiced, 12.0 * torch.log2(f0 / 27.5), torch.zeros_like(f0))

        jitter, shimmer = compute_periodic_features(frames, lags)
        columns = [f0_semitones, 1 - harmonicity, jitter, shimmer]
        if self.gne:
            columns.append(1 - self._gne(padded, time))
        scored = [
            -10 * torch.log10(torch.nan_to_num(c, nan=1.0).clamp(min=self.eps))
            for c in columns[1:]
        ]
        features = [columns[0].unsqueeze(-1), torch.stack(scored, dim=-1)]

        spectrum = torch.fft.rfft(frames * window).abs()
        features.append(compute_spectral_features(spectrum))
        mel_power = self.compute_fbanks(spectrum.pow(2))
        log_mel = 10 * torch.log10(mel_power.clamp(min=1e-10))
        features.append(self.compute_dct(log_mel))
        if self.log_mels:
            features.append(log_mel)
        if self.loudness:
            features.append(mel_power.clamp(min=0).pow(0.33).sum(dim=-1, keepdim=True))
        return torch.cat(features, dim=-1)

    def _gne(self, padded, time):
        """SpeechBrain's GNE on the same frame grid (frames at 10 kHz)."""
        gne = compute_gne(
            padded,
            self.sample_rate,
            frame_len=self.window_samples / self.sample_rate,
            hop_len=self.hop / self.sample_rate,
        )[:, :time]
        if gne.shape[1] < time:
            gne = torch.nn.functional.pad(gne, (0, time - gne.shape[1]), mode="replicate")
        return gne


# --------------------------------------------------------------------------
# Disk backends
# --------------------------------------------------------------------------


def _resampled_length(num_frames, rate, sample_rate=SAMPLE_RATE):
    """Samples after resampling ``num_frames`` from ``rate`` to ``sample_rate``
    (what ``load_audio`` returns)."""
    if rate == sample_rate:
        return num_frames
    return math.ceil(num_frames * sample_rate / rate)


def _to_encoder_grid(features, centres, num_frames, grid=WAVLM_GRID):
    """Linear interpolation of ``features`` ``[K, D]`` whose frame ``k`` is
    centred at sample ``centres[k]`` onto ``num_frames`` frames of ``grid``
    centred at ``grid.hop * i + grid.field / 2`` (clamped at the edges)."""
    if features.shape[0] == 0:
        return torch.zeros(num_frames, features.shape[1])
    targets = grid.hop * torch.arange(num_frames, dtype=torch.float64) + grid.field / 2
    position = np.interp(targets.numpy(), centres, np.arange(len(centres), dtype=np.float64))
    position = torch.from_numpy(position)
    low = position.floor().long().clamp(0, features.shape[0] - 1)
    high = (low + 1).clamp(max=features.shape[0] - 1)
    weight = (position - low.double()).unsqueeze(1).float()
    return features[low] * (1 - weight) + features[high] * weight


def _safe_name(utt_id):
    return str(utt_id).replace(os.sep, "__")


class _DiskTargets:
    """Shared ``crop`` logic of the disk backends: ``_full(utt_id, path)``
    returns the raw features of the whole utterance on the encoder grid;
    ``normalise`` is ``"crop"`` or ``"utterance"`` (see the module doc).
    Their frames are on WavLM's grid (the encoders of this collection)."""

    on_the_fly = False
    needs_utterance_stats = False  # the disk backends normalise in ``crop``
    grid = WAVLM_GRID
    hop, field = WAVLM_GRID.hop, WAVLM_GRID.field
    normalise = "crop"

    def crop(self, utt_id, path, start, num_samples):
        """Normalised targets of the audio segment ``[start, start +
        num_samples)`` (16 kHz samples, ``start`` a multiple of the grid's hop).

        Returns
        -------
        torch.Tensor
            ``[grid.num_frames(num_samples), dim]`` float32.
        """
        if start % self.hop:
            raise ValueError(
                f"{path}: crop start {start} is not a multiple of the {self.hop}-sample hop"
            )
        first = start // self.hop
        count = self.grid.num_frames(int(num_samples))
        stats = None
        if self.normalise == "utterance":
            full = self._full(utt_id, path)
            segment, available = full[first : first + count], full.shape[0]
            stats = utterance_stats(full).unsqueeze(0)
        else:
            segment, available = self._segment(utt_id, path, first, count)
        if segment.shape[0] < count:
            raise ValueError(
                f"{path}: crop [{start}, {start + num_samples}) needs frames up to "
                f"{first + count}, the audio has {available} "
                "(is the crop beyond the end of the audio?)"
            )
        return normalise_targets(segment.unsqueeze(0), torch.tensor([count]), stats)[0]

    def _segment(self, utt_id, path, first, count):
        """Raw frames ``[first, first + count)`` (fewer at the end of the
        audio) and the utterance's frame count."""
        full = self._full(utt_id, path)
        return full[first : first + count], full.shape[0]

    def __call__(self, utt_id, path, start=0, num_samples=None):
        """Targets of a whole utterance (or a crop), see :meth:`crop`."""
        if num_samples is None:
            frames, rate, _ = audio_info(path)
            num_samples = _resampled_length(frames, rate) - start
        return self.crop(utt_id, path, start, num_samples)


def _file_key(path, settings):
    """Cache key of a file: its identity (absolute path, size, mtime) and the
    extractor settings (:func:`care.io.fingerprint`)."""
    return fingerprint({os.path.abspath(path): path}, extra=settings)


_SMILE = {}


def _opensmile_features(path, feature_set, feature_level):
    """eGeMAPS (or another set's) LLDs of one file on the encoder grid,
    ``[WAVLM_GRID.num_frames(samples), D]`` float32 (NaN set to 0)."""
    import opensmile

    key = (feature_set, feature_level)
    if key not in _SMILE:
        _SMILE[key] = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, feature_set),
            feature_level=getattr(opensmile.FeatureLevel, feature_level),
        )
    smile = _SMILE[key]
    audio = load_audio(path).numpy()
    num_frames = WAVLM_GRID.num_frames(len(audio))
    dim = len(smile.feature_names)
    if num_frames == 0:
        return torch.zeros(0, dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Segment too short, filling with NaN"
        table = smile.process_signal(audio, SAMPLE_RATE)
    values = torch.from_numpy(np.nan_to_num(table.to_numpy(dtype=np.float32)))
    starts = table.index.get_level_values("start").total_seconds().to_numpy()
    # openSMILE's LLD frames start every 10 ms; their 20 ms windows are centred
    # 10 ms after the start (the F0 windows are longer but share the start).
    centres = (starts + 0.010) * SAMPLE_RATE
    return _to_encoder_grid(values, centres, num_frames)


def _extract_worker(job):
    """Process-pool job: extract one file and write its cache entry
    atomically. Returns ``(utt_id, error message or None)``."""
    utt_id, path, cache_path, key, feature_set, feature_level = job
    try:
        features = _opensmile_features(path, feature_set, feature_level)
    except (AudioError, RuntimeError, ValueError, OSError) as error:
        return utt_id, str(error)
    save_torch({"key": key, "features": features}, cache_path)
    return utt_id, None


class OpenSmileTargets(_DiskTargets):
    """eGeMAPS low-level descriptors through ``opensmile``, extracted once per
    corpus and cached on disk (one ``<utt_id>.pt`` per utterance, holding the
    features on the encoder grid and the key they were computed for).

    The cache key is the file identity (absolute path, size, mtime) plus the
    extractor settings: a changed file or setting re-extracts that entry, an
    interrupted ``prepare`` resumes with the entries already written, and a
    half-written entry never exists (atomic rename; stray temp files are
    ignored). ``crop`` extracts (and caches) a file ``prepare`` has not seen.

    Arguments
    ---------
    cache_folder : str
        Where the per-utterance entries go (one folder per corpus).
    feature_set : str
        ``opensmile.FeatureSet`` member (``eGeMAPSv02``: 25 LLDs).
    feature_level : str
        ``opensmile.FeatureLevel`` member.
    num_workers : int
        Default worker processes of ``prepare`` (0: in this process).
    normalise : str
        ``"crop"`` or ``"utterance"`` (statistics of the whole cached entry).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.dataio import audio_io
    >>> folder = tempfile.mkdtemp()
    >>> audio_io.save(folder + "/a.wav", 0.1 * torch.randn(1, 8000), 16000)
    >>> targets = OpenSmileTargets(folder + "/cache")
    >>> sorted(targets.prepare({"a": {"wav": folder + "/a.wav"}}, num_workers=0))
    ['a']
    >>> targets.crop("a", folder + "/a.wav", start=targets.hop, num_samples=4000).shape
    torch.Size([12, 25])
    """

    def __init__(
        self,
        cache_folder,
        feature_set="eGeMAPSv02",
        feature_level="LowLevelDescriptors",
        num_workers=4,
        normalise="crop",
    ):
        import opensmile

        self.normalise = _check_normalise(normalise)
        self.cache_folder = cache_folder
        self.feature_set, self.feature_level = feature_set, feature_level
        self.num_workers = num_workers
        smile = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, feature_set),
            feature_level=getattr(opensmile.FeatureLevel, feature_level),
        )
        self.names = list(smile.feature_names)
        self.dim = len(self.names)
        self.settings = {
            "extractor": "opensmile",
            "opensmile": opensmile.__version__,
            "feature_set": feature_set,
            "feature_level": feature_level,
            "grid": [self.hop, self.field],
            "version": CACHE_VERSION,
        }
        self.last_stats = {}

    def cache_path(self, utt_id):
        return os.path.join(self.cache_folder, _safe_name(utt_id) + ".pt")

    def _cached(self, utt_id, key):
        """The cached features when the entry exists and matches ``key``."""
        path = self.cache_path(utt_id)
        if not os.path.isfile(path):
            return None
        try:
            entry = torch.load(path, weights_only=True)
        except Exception:  # unreadable entry: extract again
            return None
        if entry.get("key") != key:
            return None
        return entry["features"]

    def prepare(self, entries, num_workers=None):
        """Extracts every entry not cached yet (or stale), in parallel with a
        progress bar; bad files are skipped and counted in one log line.

        Arguments
        ---------
        entries : dict
            ``utt_id -> {"wav": path, ...}`` (a manifest with paths resolved).
        num_workers : int, optional
            Worker processes (0: in this process; default: the constructor's).

        Returns
        -------
        set
            The ids whose targets are ready.
        """
        num_workers = self.num_workers if num_workers is None else num_workers
        ready, failed, jobs = set(), {}, []
        for utt_id, entry in entries.items():
            path = entry["wav"]
            try:
                key = _file_key(path, self.settings)
            except OSError as error:
                failed[utt_id] = f"{path}: {error.strerror}"
                continue
            if self._cached(utt_id, key) is not None:
                ready.add(utt_id)
                continue
            jobs.append(
                (utt_id, path, self.cache_path(utt_id), key, self.feature_set, self.feature_level)
            )
        reused = len(ready)
        if jobs:
            progress = tqdm(total=len(jobs), desc="openSMILE targets", dynamic_ncols=True)
            if num_workers > 0:
                # spawn, not fork: a forked child of a process that has run
                # torch's thread pools can deadlock.
                context = multiprocessing.get_context("spawn")
                with concurrent.futures.ProcessPoolExecutor(num_workers, context) as pool:
                    results = pool.map(_extract_worker, jobs, chunksize=8)
                    for utt_id, error in results:
                        self._collect(utt_id, error, ready, failed)
                        progress.update()
            else:
                for job in jobs:
                    self._collect(*_extract_worker(job), ready, failed)
                    progress.update()
            progress.close()
        self._log(len(entries), reused, len(ready) - reused, failed)
        return ready

    @staticmethod
    def _collect(utt_id, error, ready, failed):
        if error is None:
            ready.add(utt_id)
        else:
            failed[utt_id] = error

    def _log(self, total, reused, extracted, failed):
        self.last_stats = {"reused": reused, "extracted": extracted, "failed": len(failed)}
        message = (
            f"openSMILE targets in {self.cache_folder}: {total} utterances, "
            f"{reused} cached, {extracted} extracted, {len(failed)} skipped"
        )
        if failed:
            examples = "; ".join(list(failed.values())[:3])
            message += f" (e.g. {examples})"
            logger.warning(message)
        else:
            logger.info(message)

    def _full(self, utt_id, path):
        key = _file_key(path, self.settings)
        features = self._cached(utt_id, key)
        if features is None:
            features = _opensmile_features(path, self.feature_set, self.feature_level)
            save_torch({"key": key, "features": features}, self.cache_path(utt_id))
        return features.float()


class NpyTargets(_DiskTargets):
    """Precomputed features from a folder of ``<utt_id>.npy`` files, each
    ``T x D`` (e.g. PASE+, the targets of the authors' code: see
    ``recipes/Pretrain/README.md`` for their extraction and the 100 Hz to
    50 Hz step).

    With ``hop_samples`` None (the default) or the grid's hop, frame ``k``
    must be the encoder's frame ``k`` and ``T`` must equal
    ``grid.num_frames(samples)``. With another hop (e.g. 160 for a 100 Hz extractor) frame ``k`` is taken as
    centred at ``(k + 0.5) * hop_samples`` and interpolated onto the encoder
    grid; ``T`` must be ``round(samples / hop_samples)``.

    Length tolerance: extractors differ in how they pad the last frame, so a
    file up to ``tolerance`` frames (default 2) longer or shorter than
    expected is trimmed or padded (last frame repeated) at the end; beyond
    that, or when the file is missing or not ``T x dim``, :class:`ValueError`
    names the file.

    Arguments
    ---------
    folder : str
        The folder of ``.npy`` files.
    dim : int
        Feature size ``D`` (checked).
    hop_samples : int, optional
        Frame hop of the files in 16 kHz samples (None: the encoder's grid).
    tolerance : int
        Frames of length mismatch that are padded or trimmed.
    normalise : str
        ``"crop"`` (only the crop's rows are read) or ``"utterance"`` (the
        whole file is read for its statistics).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.dataio import audio_io
    >>> folder = tempfile.mkdtemp()
    >>> audio_io.save(folder + "/a.wav", torch.randn(1, 16000), 16000)
    >>> np.save(folder + "/a.npy", np.ones((49, 3), dtype=np.float32))
    >>> targets = NpyTargets(folder, dim=3)
    >>> targets.crop("a", folder + "/a.wav", start=0, num_samples=8000).shape
    torch.Size([24, 3])
    """

    def __init__(self, folder, dim, hop_samples=None, tolerance=2, normalise="crop"):
        self.normalise = _check_normalise(normalise)
        self.folder = folder
        self.dim = dim
        self.hop_samples = self.hop if hop_samples is None else hop_samples
        self.tolerance = tolerance
        self.last_stats = {}

    def npy_path(self, utt_id):
        return os.path.join(self.folder, _safe_name(utt_id) + ".npy")

    def _read(self, utt_id, path, mmap=True):
        """The file's array ``[T, D]`` checked against the audio, and the
        expected number of encoder frames."""
        npy = self.npy_path(utt_id)
        if not os.path.isfile(npy):
            raise ValueError(f"{npy}: missing precomputed targets for {utt_id} ({path})")
        try:
            array = np.load(npy, mmap_mode="r" if mmap else None)
        except (ValueError, OSError) as error:
            raise ValueError(f"{npy}: not a readable .npy file ({error})") from error
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"{npy}: shape {array.shape}, expected (frames, {self.dim})")
        frames, rate, _ = audio_info(path)
        samples = _resampled_length(frames, rate)
        if self.hop_samples == self.hop:
            expected = self.grid.num_frames(samples)
        else:
            expected = int(round(samples / self.hop_samples))
        if abs(array.shape[0] - expected) > self.tolerance:
            raise ValueError(
                f"{npy}: {array.shape[0]} frames, but {path} ({samples} samples at 16 kHz) "
                f"needs {expected} (hop {self.hop_samples}, tolerance {self.tolerance})"
            )
        return array, samples, expected

    def prepare(self, entries, num_workers=None):
        """Checks every file once (present, ``T x dim``, length within
        tolerance); bad ones are counted and named in one log line.
        ``num_workers`` is accepted for interface parity (reading headers is
        fast).

        Returns
        -------
        set
            The ids whose targets are usable.
        """
        ready, failed = set(), {}
        for utt_id, entry in tqdm(entries.items(), desc="checking .npy targets", dynamic_ncols=True):
            try:
                self._read(utt_id, entry["wav"])
                ready.add(utt_id)
            except (ValueError, AudioError) as error:
                failed[utt_id] = str(error)
        self.last_stats = {"ready": len(ready), "failed": len(failed)}
        message = f".npy targets in {self.folder}: {len(ready)} usable, {len(failed)} skipped"
        if failed:
            logger.warning(message + " (e.g. " + "; ".join(list(failed.values())[:3]) + ")")
        else:
            logger.info(message)
        return ready

    def _segment(self, utt_id, path, first, count):
        if self.hop_samples != self.hop:
            return super()._segment(utt_id, path, first, count)
        # Read only the crop's rows from the memory-mapped file.
        array, samples, _ = self._read(utt_id, path)
        num_frames = self.grid.num_frames(samples)
        stop = min(first + count, num_frames)
        rows = np.array(array[first : min(stop, array.shape[0])], dtype=np.float32)
        self._check_finite(rows, utt_id)
        missing = stop - first - rows.shape[0]  # within tolerance: repeat the last frame
        if missing > 0:
            last = np.array(array[-1:], dtype=np.float32)
            if last.shape[0] == 0:  # an empty file within tolerance of a tiny clip
                last = np.zeros((1, self.dim), dtype=np.float32)
            rows = np.concatenate([rows, np.repeat(last, missing, axis=0)])
        return torch.from_numpy(rows), num_frames

    def _check_finite(self, values, utt_id):
        if not np.isfinite(values).all():
            raise ValueError(f"{self.npy_path(utt_id)}: contains NaN or infinite values")

    def _full(self, utt_id, path):
        array, samples, expected = self._read(utt_id, path)
        values = np.array(array, dtype=np.float32)
        self._check_finite(values, utt_id)
        features = torch.from_numpy(values)
        num_frames = self.grid.num_frames(samples)
        if features.shape[0] == 0:
            return torch.zeros(num_frames, self.dim)
        if self.hop_samples == self.hop:
            if features.shape[0] > num_frames:
                return features[:num_frames]
            pad = num_frames - features.shape[0]
            return torch.cat([features, features[-1:].expand(pad, -1)]) if pad else features
        centres = (np.arange(features.shape[0]) + 0.5) * self.hop_samples
        return _to_encoder_grid(features, centres, num_frames, self.grid)
