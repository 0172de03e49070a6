"""Data preparation for ASED (Amharic Speech Emotion Dataset, v1; acted).

Reads ``<data_folder>/{01Neutral,02Fearful,03Happy,04Sad,05Angry}/*.wav``:
file ``a5-03-01-02-50.wav`` is emotion letter ``a`` and folder number ``5``
(they must agree with the folder), sentence ``03``, repetition ``01``, gender
code ``02`` (01 female, 02 male) and speaker ``50`` (01-65). Labels: neutral,
fear, happiness, sadness, anger. Writes ``<save_folder>/data.json`` (see
``care.processing.manifest``) with ``gender``.

Protocol: speaker-grouped cross-validation. The speakers are split into
``num_folds`` groups of about equal utterance counts and label mix
(:func:`care.processing.folds.assign_speaker_folds`: greedy, largest speaker
first, deterministic); ``fold`` is the group (``g1`` ... ``g5``).

Oddities of the release, handled:

- the speaker is the two-digit number alone. Five numbers (09, 15, 21, 23,
  25) carry gender code 01 on all their files but one, which says 02; with
  the number alone the release has 65 speakers, 25 female and 40 male, as its
  README says (with the gender code too it would have 70). Grouping by the
  number can only join files, never split a person over two folds. Each
  entry's ``gender`` is its speaker's more frequent code; the disagreeing
  files are logged and listed in ``prepare.json``;
- one name starts with an upper-case letter (``S4-04-02-01-29.wav``): letters
  are read case-insensitively, and so is the extension (``.WAV``);
- four files are byte-identical copies of another file of the same speaker,
  emotion and sentence (the other repetition): left out with
  ``drop_duplicates: True`` (default;
  :func:`care.processing.corpus.drop_identical_audio`), kept with False
  (EmoBox's fold files list them).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import re
from collections import Counter

from speechbrain.utils.logger import get_logger

from care.processing.corpus import (
    check_num_folds,
    check_release,
    drop_identical_audio,
    read_durations,
    wav_files,
)
from care.processing.folds import assign_speaker_folds, speaker_groups_protocol
from care.processing.manifest import ManifestError, relative_wav, validate_manifest
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

# folder: (letter, folder number, label)
FOLDERS = {
    "01Neutral": ("n", "1", "neutral"),
    "02Fearful": ("f", "2", "fear"),
    "03Happy": ("h", "3", "happiness"),
    "04Sad": ("s", "4", "sadness"),
    "05Angry": ("a", "5", "anger"),
}
GENDERS = {"01": "female", "02": "male"}
FILE_NAME = re.compile(r"^([a-z])(\d)-(\d\d)-(\d\d)-(0[12])-(\d\d)\.wav$", re.IGNORECASE)
RELEASE = {"files": 2474, "speakers": 65}
COPIES = 4  # byte-identical copies in the release
HINT = "Clone https://github.com/Ethio2021/ASED_V1 (its five emotion folders)"


def prepare_ased(data_folder, save_folder, num_folds=5, strict=True, drop_duplicates=True):
    """Writes ``data.json`` and ``prepare.json`` for ASED into ``save_folder``.

    Arguments
    ---------
    data_folder : str
        The corpus root holding ``01Neutral/`` ... ``05Angry/``.
    save_folder : str
        Where the manifest goes.
    num_folds : int
        Speaker groups (test folds).
    strict : bool
        Check the official release (2474 files, 65 speakers, 5 emotions);
        False accepts a subset.
    drop_duplicates : bool
        Leave out files whose bytes are another file's (logged, listed in
        ``prepare.json``); False keeps them (each copy is of the same
        speaker, so folds stay speaker-independent).
    """
    check_num_folds(num_folds)
    missing = [name for name in FOLDERS if not os.path.isdir(os.path.join(data_folder, name))]
    if missing:
        raise ManifestError(f"ASED at {data_folder}: missing emotion folders {missing}. {HINT}")
    files = sorted(path for name in FOLDERS for path in wav_files(os.path.join(data_folder, name)))
    options = {"num_folds": num_folds, "strict": strict, "drop_duplicates": drop_duplicates}
    if skip_preparation(save_folder, options, files, data_folder):
        return

    corpus = f"ASED at {data_folder}"
    paths, data, codes = {}, {}, {}
    for path in files:
        folder, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)
        match = FILE_NAME.match(name)
        if match is None:
            raise ManifestError(
                f"{path}: not an ASED name <emotion letter><folder number>-<sentence>-"
                "<repetition>-<gender 01|02>-<speaker>.wav (e.g. a5-03-01-02-50.wav)"
            )
        letter, number, _, _, gender, speaker = match.groups()
        expected_letter, expected_number, label = FOLDERS[folder]
        if (letter.lower(), number) != (expected_letter, expected_number):
            raise ManifestError(
                f"{path}: the name says {letter}{number}, its folder {folder} holds "
                f"{expected_letter}{expected_number}"
            )
        utt = name[: -len(".wav")]
        paths[utt], codes[utt] = path, gender
        data[utt] = {"label": label, "speaker": speaker, "fold": None}
    if not data:
        raise ManifestError(f"{corpus}: no .wav files in {list(FOLDERS)}. {HINT}")
    found = {"files": len(data), "speakers": len({e["speaker"] for e in data.values()})}
    check_release(found, RELEASE if strict else None, corpus)

    # A speaker's gender: the more frequent code among their files.
    per_speaker = {}
    for utt, entry in data.items():
        per_speaker.setdefault(entry["speaker"], Counter())[codes[utt]] += 1
    majority = {s: counts.most_common(1)[0][0] for s, counts in per_speaker.items()}
    disagree = {utt: codes[utt] for utt, e in data.items() if codes[utt] != majority[e["speaker"]]}
    if disagree:
        logger.warning(
            f"{corpus}: {len(disagree)} files whose gender code differs from the rest of their "
            f"speaker's (kept, with the speaker's gender): {sorted(disagree)[:5]}"
        )
    for entry in data.values():
        entry["gender"] = GENDERS[majority[entry["speaker"]]]

    copies = drop_identical_audio(data, paths, corpus, drop=drop_duplicates)
    durations, _ = read_durations({utt: paths[utt] for utt in data}, option=None)
    for utt, entry in data.items():
        entry["wav"] = relative_wav(paths[utt], data_folder)
        entry["duration"] = round(durations[utt], 4)
    sizes = assign_speaker_folds(data, num_folds, prefix="g")
    expected = RELEASE["files"] - (COPIES if drop_duplicates else 0)
    validate_manifest(
        data,
        corpus,
        expected_count=expected if strict else None,
        expected_labels=[label for _, _, label in FOLDERS.values()] if strict else None,
        expected_speakers=RELEASE["speakers"] if strict else None,
        expected_folds=num_folds,
    )
    protocol = speaker_groups_protocol(data, sizes)
    write_manifest(
        save_folder, data, options, files, data_folder, protocol=protocol,
        facts={
            "gender_code_differs_from_speaker": disagree,
            "identical_copies" + ("_dropped" if drop_duplicates else "_kept"): copies,
        },
    )
