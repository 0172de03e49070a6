"""Data preparation for EmoDB (Berlin Database of Emotional Speech).

Reads ``<data_folder>/wav/*.wav`` (or ``<data_folder>/*.wav``; FLAC and Ogg re-encodings too): file
``03a01Fa.wav`` is speaker ``03``, sentence ``a01``, emotion letter ``F``,
version ``a``. Writes ``<save_folder>/data.json`` (see
``care.processing.manifest``) with ``fold`` = speaker: leave-one-speaker-out.

Works on the corpus as distributed (16 kHz, variable lengths) and on copies
resampled or cut to a fixed length (durations come from each file's header).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import glob
import os
import re

from speechbrain.utils.logger import get_logger

from care.processing.corpus import check_num_folds, read_durations
from care.processing.folds import assign_speaker_folds, speaker_groups_protocol
from care.processing.manifest import ManifestError, relative_wav, validate_manifest
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

EMOTIONS = {
    "W": "anger",  # Aerger / Wut
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happiness",  # Freude
    "T": "sadness",  # Trauer
    "N": "neutral",
}
SPEAKERS = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
UTTERANCES = 535  # the release
FILE_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])\.(?:wav|flac|ogg|opus)$")  # as released, or re-encoded
PROTOCOL = (
    "leave-one-speaker-out: 10 test folds, one speaker each; for each, the next speaker "
    "(cyclic order 03..16) is the validation set for epoch selection, the other 8 train"
)


def prepare_emodb(data_folder, save_folder, strict=True, num_folds=None):
    """Writes ``data.json`` and ``prepare.json`` for EmoDB into ``save_folder``.

    Arguments
    ---------
    data_folder : str
        The corpus root (holding ``wav/``) or the ``wav`` folder itself.
    save_folder : str
        Where the manifest goes.
    strict : bool
        Check the official release (535 utterances, 7 emotions, 10
        speakers); False accepts a subset.
    num_folds : int, optional
        None (default): leave one speaker out (a fold per speaker). A number:
        that many speaker groups balanced in size and label mix
        (:func:`care.processing.folds.assign_speaker_folds`), e.g. 5 folds
        of 2 speakers for the costlier fine-tuning runs.
    """
    if num_folds is not None:
        check_num_folds(num_folds)
    wav_folder = os.path.join(data_folder, "wav")
    if not os.path.isdir(wav_folder):
        wav_folder = data_folder
    files = sorted(
        path
        for ext in ("wav", "flac", "ogg", "opus")
        for path in glob.glob(os.path.join(wav_folder, f"*.{ext}"))
    )
    options = {"strict": strict, "wav_folder": os.path.abspath(wav_folder)}
    if num_folds is not None:  # (absent by default, so that earlier manifests stay up to date)
        options["num_folds"] = num_folds
    if skip_preparation(save_folder, options, files, data_folder):
        return

    paths, skipped = {}, []
    for path in files:
        if FILE_NAME.match(os.path.basename(path)) is None:
            skipped.append(os.path.basename(path))
        else:
            paths[os.path.basename(path)[:-4]] = path
    durations, _ = read_durations(paths)
    data = {}
    for utt, path in paths.items():
        speaker, _, letter, _ = FILE_NAME.match(os.path.basename(path)).groups()
        data[utt] = {
            "wav": relative_wav(path, data_folder),
            "duration": round(durations[utt], 4),
            "label": EMOTIONS[letter],
            "speaker": speaker,
            "fold": speaker,
        }
    if skipped:
        logger.warning(
            f"{wav_folder}: skipped {len(skipped)} files not named like EmoDB "
            f"(e.g. {skipped[:3]})"
        )
    corpus = f"EmoDB at {wav_folder}"
    validate_manifest(
        data,
        corpus,
        expected_count=UTTERANCES if strict else None,
        expected_labels=EMOTIONS.values() if strict else None,
        expected_speakers=len(SPEAKERS) if strict else None,
    )
    unknown = {e["speaker"] for e in data.values()} - set(SPEAKERS)
    if unknown:
        raise ManifestError(f"{corpus}: unknown speakers {sorted(unknown)} (EmoDB has {SPEAKERS})")
    protocol = PROTOCOL
    if num_folds is not None:
        protocol = speaker_groups_protocol(data, assign_speaker_folds(data, num_folds, prefix="g"))
    write_manifest(save_folder, data, options, files, data_folder, protocol=protocol)
