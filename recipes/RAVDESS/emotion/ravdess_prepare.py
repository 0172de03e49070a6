"""Prepares RAVDESS (speech, audio-only) for emotion probing.

Layout (``Audio_Speech_Actors_01-24.zip`` unpacked into ``data_folder``)::

    data_folder/Actor_01/03-01-01-01-01-01-01.wav ... Actor_24/...

File names are ``MM-VV-EE-II-SS-RR-AA.wav``: modality (03 audio-only), vocal
channel (01 speech, 02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad,
05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01 normal, 02
strong), statement (01 "Kids are talking by the door", 02 "Dogs are sitting
by the door"), repetition, actor (odd male, even female). Speech only: 1440
files, 24 actors, 8 emotions; song files (channel 02) are skipped and counted.

Protocol: actor-independent folds of consecutive actors, by default 6 folds of
4 actors (actors 1-4, 5-8, ...), each fold 2 male + 2 female.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import glob
import os
import re
from collections import Counter

from care.processing.corpus import check_release, read_durations
from care.processing.folds import contiguous_folds
from care.processing.manifest import ManifestError, check_labels, relative_wav
from care.processing.preparation import skip_preparation, write_manifest

EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$")
RELEASE = {
    "speech files": 1440,
    "files per emotion": {label: 96 if label == "neutral" else 192 for label in EMOTIONS.values()},
    "actors": 24,
}


def prepare_ravdess(data_folder, save_folder, num_folds=6, strict=True):
    """Writes ``<save_folder>/data.json`` and ``prepare.json`` for RAVDESS.

    Arguments
    ---------
    data_folder : str
        The folder holding ``Actor_01`` ... ``Actor_24``.
    save_folder : str
        Where the manifest goes.
    num_folds : int
        Actor-independent folds of consecutive actors (6: four actors each).
    strict : bool
        Check the official release (1440 files, 24 actors, 96 neutral and 192
        of every other emotion); False accepts a subset.
    """
    options = {"num_folds": num_folds, "strict": strict}
    actor_dirs = sorted(glob.glob(os.path.join(data_folder, "Actor_[0-9][0-9]")))
    if not actor_dirs:
        raise ManifestError(
            f"{data_folder}: no Actor_XX folders; unpack Audio_Speech_Actors_01-24.zip here"
        )
    paths, fields, songs = {}, {}, 0
    for actor_dir in actor_dirs:
        actor = os.path.basename(actor_dir)[len("Actor_") :]
        for name in sorted(os.listdir(actor_dir)):
            if not name.endswith(".wav"):
                continue
            match = NAME.match(name)
            if match is None:
                raise ManifestError(
                    f"{os.path.join(actor_dir, name)}: not a RAVDESS name MM-VV-EE-II-SS-RR-AA.wav"
                )
            modality, channel, emotion, intensity, statement, repetition, who = match.groups()
            if who != actor:
                raise ManifestError(f"{os.path.join(actor_dir, name)}: actor {who} in folder Actor_{actor}")
            if modality != "03" or channel != "01":
                songs += 1  # song or audio-visual files: not part of the speech set
                continue
            check_labels([emotion], EMOTIONS, os.path.join(actor_dir, name))
            utt = name[: -len(".wav")]
            paths[utt] = os.path.join(actor_dir, name)
            fields[utt] = (emotion, intensity, statement, repetition, actor)
    if not paths:
        raise ManifestError(f"{data_folder}: no speech files (03-01-*.wav) in the Actor_XX folders")
    if skip_preparation(save_folder, options, list(paths.values()), data_folder):
        return

    actors = sorted({f[4] for f in fields.values()})
    found = {
        "speech files": len(paths),
        "files per emotion": dict(Counter(EMOTIONS[f[0]] for f in fields.values())),
        "actors": len(actors),
    }
    check_release(found, RELEASE if strict else None, data_folder)

    durations, _ = read_durations(paths)
    folds = contiguous_folds(actors, num_folds)
    data = {}
    for utt, (emotion, intensity, statement, repetition, actor) in fields.items():
        data[utt] = {
            "wav": relative_wav(paths[utt], data_folder),
            "duration": durations[utt],
            "label": EMOTIONS[emotion],
            "speaker": f"Actor_{actor}",
            "fold": folds[actor],
            "gender": "male" if int(actor) % 2 else "female",
            "intensity": "strong" if intensity == "02" else "normal",
            "text": STATEMENTS.get(statement, ""),
            "repetition": int(repetition),
        }
    write_manifest(
        save_folder,
        data,
        options,
        paths.values(),
        data_folder,
        protocol=f"{num_folds} actor-independent folds of consecutive actors",
        facts={"skipped_song_or_video_files": songs},
    )
