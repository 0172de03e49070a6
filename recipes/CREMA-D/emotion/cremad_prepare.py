"""Prepares CREMA-D for emotion probing.

Layout (the corpus repository, cloned with Git LFS)::

    data_folder/AudioWAV/1001_DFA_ANG_XX.wav ...

File names are ``<actor>_<sentence>_<emotion>_<level>.wav``: 91 actors
(1001-1091), 12 sentences, 6 emotions (ANG, DIS, FEA, HAP, NEU, SAD), level LO,
MD, HI or XX (unspecified). 7442 files: 1271 per emotion, 1087 neutral.

Protocol: 5 actor-independent folds; actors are grouped by
:func:`care.processing.folds.assign_speaker_folds` so that folds hold nearly
equal numbers of files and of each emotion.

Known problems of the release: a file or two that soundfile cannot read
(reported: ``1076_MTI_NEU_XX``); up to ``max_bad_files`` unreadable files are
skipped, logged and listed in ``prepare.json``. A clone without Git LFS holds
pointer files: preparation stops and says so.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import re
from collections import Counter

from care.processing.corpus import check_release, read_durations, require_dir
from care.processing.folds import assign_speaker_folds
from care.processing.manifest import ManifestError, check_labels, relative_wav
from care.processing.preparation import skip_preparation, write_manifest

EMOTIONS = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}
SENTENCES = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})\.wav$")
RELEASE = {
    "files": 7442,
    "files per emotion": {label: 1087 if label == "neutral" else 1271 for label in EMOTIONS.values()},
    "actors": 91,
}


def prepare_cremad(data_folder, save_folder, num_folds=5, strict=True, max_bad_files=2):
    """Writes ``<save_folder>/data.json`` and ``prepare.json`` for CREMA-D.

    Arguments
    ---------
    data_folder : str
        The corpus root, holding ``AudioWAV``.
    save_folder : str
        Where the manifest goes.
    num_folds : int
        Actor-independent folds.
    strict : bool
        Check the official release (7442 files, 91 actors, files per
        emotion); False accepts a subset.
    max_bad_files : int or None
        Utterances whose audio file is missing or unreadable that are
        skipped (logged, listed in ``prepare.json``); one more stops the
        preparation. None: any number.
    """
    options = {"num_folds": num_folds, "strict": strict, "max_bad_files": max_bad_files}
    audio_dir = require_dir(
        os.path.join(data_folder, "AudioWAV"),
        "CREMA-D audio",
        "Clone https://github.com/CheyneyComputerScience/CREMA-D with Git LFS",
    )
    paths, fields = {}, {}
    for name in sorted(os.listdir(audio_dir)):
        if not name.endswith(".wav"):
            continue
        path = os.path.join(audio_dir, name)
        match = NAME.match(name)
        if match is None:
            raise ManifestError(f"{path}: not a CREMA-D name <actor>_<sentence>_<emotion>_<level>.wav")
        actor, sentence, emotion, level = match.groups()
        check_labels([emotion], EMOTIONS, path)
        check_labels([sentence], SENTENCES, path)
        check_labels([level], LEVELS, path)
        utt = name[: -len(".wav")]
        paths[utt] = path
        fields[utt] = (actor, sentence, emotion, level)
    if not paths:
        raise ManifestError(f"{audio_dir}: no .wav files")
    if skip_preparation(save_folder, options, list(paths.values()), data_folder):
        return

    found = {
        "files": len(paths),
        "files per emotion": dict(Counter(EMOTIONS[f[2]] for f in fields.values())),
        "actors": len({f[0] for f in fields.values()}),
    }
    check_release(found, RELEASE if strict else None, audio_dir)

    durations, unreadable = read_durations(paths, max_bad_files)
    data = {}
    for utt, (actor, sentence, emotion, level) in fields.items():
        if utt not in durations:
            continue
        data[utt] = {
            "wav": relative_wav(paths[utt], data_folder),
            "duration": durations[utt],
            "label": EMOTIONS[emotion],
            "speaker": actor,
            "fold": None,  # set below, by actor groups
            "intensity": LEVELS[level],
            "text": SENTENCES[sentence],
        }
    assign_speaker_folds(data, num_folds)
    write_manifest(
        save_folder,
        data,
        options,
        paths.values(),
        data_folder,
        protocol=f"{num_folds} actor-independent folds balanced by file and emotion counts",
        facts={"skipped_unreadable": unreadable},
    )
