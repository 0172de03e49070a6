"""On-the-fly frame targets: SpeechBrain's vocal features on the encoder's
frame grid, computed on the training device (:class:`VocalFeatureTargets`).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import torch
from speechbrain.processing.features import DCT, Filterbank
from speechbrain.processing.vocal_features import (
    compute_gne,
    compute_periodic_features,
    compute_spectral_features,
)
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.io import save_torch
from care.lobes.frontend import WAVLM_KERNEL_SIZES, WAVLM_STRIDES, FrameGrid, length_mask
from care.processing.audio import SAMPLE_RATE, AudioError, load_audio
from care.processing.frame_targets.common import (
    _check_normalise,
    _file_key,
    normalise_targets,
    utterance_stats,
)

logger = get_logger(__name__)


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
