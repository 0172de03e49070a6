"""Data preparation for the URDU emotional speech corpus (talk-show clips).

Reads ``<data_folder>/{Angry,Happy,Neutral,Sad}/*.wav|flac|ogg|opus``: file
``SM1_F01_A12`` is speaker ``M1`` (gender M, id 1), that speaker's file 01,
emotion letter ``A`` (A anger, H happiness, N neutral, S sadness; it must
agree with the folder), 12th file of that emotion. Writes
``<save_folder>/data.json`` (see ``care.processing.manifest``).

Protocol: speaker-grouped cross-validation. The speakers are split into
``num_folds`` groups of about equal utterance counts (greedy, largest
speaker first, deterministic, also balancing the label mix as far as the
speakers allow: most URDU speakers appear with one or two emotions only, e.g.
``M5`` holds 72 of the 100 neutral clips); ``fold`` is the group (``g1`` ...
``g5``).
The release names 29 distinct speaker ids in its file names (its README
says 38 speakers; the ids are what the split can rely on), and one speaker
(``M5``) holds 80 of the 400 clips, so 5 folds is the most that keeps the
groups of equal size.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import glob
import os
import re

from speechbrain.utils.logger import get_logger

from care.processing.corpus import read_durations
from care.processing.folds import assign_speaker_folds, speaker_groups_protocol
from care.processing.manifest import ManifestError, relative_wav, validate_manifest
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

EMOTIONS = {"Angry": "anger", "Happy": "happiness", "Neutral": "neutral", "Sad": "sadness"}
LETTERS = {"A": "Angry", "H": "Happy", "N": "Neutral", "S": "Sad"}
FILE_NAME = re.compile(r"^S([MF]\d+)_F\d+_([AHNS])\d+\.(?:wav|flac|ogg|opus)$", re.IGNORECASE)
UTTERANCES = 400  # the release: 100 per emotion


def prepare_urdu(data_folder, save_folder, num_folds=5, strict=True):
    """Writes ``data.json`` and ``prepare.json`` for URDU into ``save_folder``.

    Arguments
    ---------
    data_folder : str
        The corpus root holding ``Angry/``, ``Happy/``, ``Neutral/``, ``Sad/``.
    save_folder : str
        Where the manifest goes.
    num_folds : int
        Speaker groups (test folds).
    strict : bool
        Check the official release (400 utterances, 4 emotions); False
        accepts a subset.
    """
    missing = [name for name in EMOTIONS if not os.path.isdir(os.path.join(data_folder, name))]
    if missing:
        raise ManifestError(f"URDU at {data_folder}: missing emotion folders {missing}")
    files = sorted(
        path
        for name in EMOTIONS
        for ext in ("wav", "flac", "ogg", "opus")
        for path in glob.glob(os.path.join(data_folder, name, f"*.{ext}"))
    )
    options = {"num_folds": num_folds, "strict": strict}
    if skip_preparation(save_folder, options, files, data_folder):
        return

    paths, fields, skipped = {}, {}, []
    for path in files:
        folder, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)
        match = FILE_NAME.match(name)
        if match is None:
            skipped.append(name)
            continue
        speaker, letter = match.group(1).upper(), match.group(2).upper()
        if LETTERS[letter] != folder:
            raise ManifestError(
                f"URDU: {path}: emotion letter {letter} ({LETTERS[letter]}) disagrees with "
                f"its folder {folder}"
            )
        utt = os.path.splitext(name)[0]
        paths[utt], fields[utt] = path, (speaker, EMOTIONS[folder])
    durations, _ = read_durations(paths)
    data = {}
    for utt, (speaker, label) in fields.items():
        data[utt] = {
            "wav": relative_wav(paths[utt], data_folder),
            "duration": round(durations[utt], 4),
            "label": label,
            "speaker": speaker,
            "fold": None,  # set below, by speaker groups
        }
    if skipped:
        logger.warning(
            f"URDU at {data_folder}: skipped {len(skipped)} files not named like URDU "
            f"(e.g. {skipped[:3]})"
        )
    sizes = assign_speaker_folds(data, num_folds, prefix="g")
    validate_manifest(
        data,
        f"URDU at {data_folder}",
        expected_count=UTTERANCES if strict else None,
        expected_labels=EMOTIONS.values() if strict else None,
        expected_folds=num_folds,
    )
    protocol = speaker_groups_protocol(data, sizes)
    write_manifest(save_folder, data, options, files, data_folder, protocol=protocol)
