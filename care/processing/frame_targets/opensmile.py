"""eGeMAPS low-level descriptors through openSMILE, extracted once per corpus
and cached on disk (:class:`OpenSmileTargets`).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import concurrent.futures
import multiprocessing
import os
import warnings

import numpy as np
import torch
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.io import save_torch
from care.lobes.frontend import WAVLM_GRID
from care.processing.audio import SAMPLE_RATE, AudioError, load_audio
from care.processing.frame_targets.common import CACHE_VERSION, _check_normalise, _file_key
from care.processing.frame_targets.disk import _DiskTargets, _safe_name, _to_encoder_grid

logger = get_logger(__name__)


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
