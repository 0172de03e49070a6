"""Prepares CaFE (Canadian French Emotional speech) for emotion probing.

Layout (``CaFE_48k.zip`` or ``CaFE_192k.zip`` from Zenodo record 1478765,
unpacked; ``data_folder`` is ``CaFE_48k`` or ``CaFE_192k``)::

    data_folder/Colère/Faible/01-C-1-1.wav   data_folder/Colère/Fort/01-C-2-1.wav
    data_folder/Dégoût/... Joie/... Peur/... Surprise/... Tristesse/...
    data_folder/Neutre/01-N-1-1.wav

File names are ``SS-E-I-N.wav``: speaker 01-12 (odd male, even female),
emotion (C colère/anger, D dégoût/disgust, J joie/happiness, N neutre,
P peur/fear, S surprise, T tristesse/sadness), intensity (1 faible/mild,
2 fort/strong; neutral only 1), sentence 1-6. 936 files: 144 per emotion, 72
neutral. The archive's folder names are often mis-decoded by unzip tools
(``D‚go–t``), so only file names are trusted: every ``.wav`` below
``data_folder`` is read, whatever its folder.

Protocol: speaker-independent folds of consecutive speakers, by default 6
folds of 2 speakers (01-02, 03-04, ...: one male and one female each);
``num_folds: 12`` is leave-one-speaker-out.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import re
from collections import Counter

from care.processing.corpus import check_release, read_durations, require_dir
from care.processing.folds import contiguous_folds
from care.processing.manifest import ManifestError, check_labels, relative_wav
from care.processing.preparation import skip_preparation, write_manifest

EMOTIONS = {
    "C": "angry",
    "D": "disgust",
    "J": "happy",
    "N": "neutral",
    "P": "fear",
    "S": "surprise",
    "T": "sad",
}
SENTENCES = {
    "1": "Un cheval fou dans mon jardin",
    "2": "Deux ânes aigris au pelage brun",
    "3": "Trois cygnes aveugles au bord du lac",
    "4": "Quatre vieilles truies éléphantesques",
    "5": "Cinq pumas fiers et passionnés",
    "6": "Six ours aimants domestiqués",
}
NAME = re.compile(r"^(\d\d)-([A-Z])-(\d)-(\d)\.wav$")
RELEASE = {
    "files": 936,
    "files per emotion": {label: 72 if label == "neutral" else 144 for label in EMOTIONS.values()},
    "speakers": 12,
}


def prepare_cafe(data_folder, save_folder, num_folds=6, strict=True):
    """Writes ``<save_folder>/data.json`` and ``prepare.json`` for CaFE.

    Arguments
    ---------
    data_folder : str
        ``CaFE_48k`` or ``CaFE_192k`` (the emotion folders are below it).
    save_folder : str
        Where the manifest goes.
    num_folds : int
        Speaker-independent folds of consecutive speakers (6: pairs; 12:
        leave-one-speaker-out).
    strict : bool
        Check the official release (936 files, 12 speakers, files per
        emotion); False accepts a subset.
    """
    options = {"num_folds": num_folds, "strict": strict}
    require_dir(data_folder, "CaFE_48k or CaFE_192k", "Unpack CaFE_48k.zip from Zenodo record 1478765")
    paths, fields = {}, {}
    for folder, _, names in sorted(os.walk(data_folder)):
        for name in sorted(names):
            if not name.endswith(".wav") or name.startswith("._"):
                continue
            path = os.path.join(folder, name)
            match = NAME.match(name)
            if match is None:
                raise ManifestError(f"{path}: not a CaFE name SS-E-I-N.wav")
            speaker, emotion, intensity, sentence = match.groups()
            check_labels([emotion], EMOTIONS, path)
            check_labels([sentence], SENTENCES, path)
            if intensity not in ("1", "2") or (emotion == "N" and intensity != "1"):
                raise ManifestError(f"{path}: intensity {intensity} does not exist for emotion {emotion}")
            utt = name[: -len(".wav")]
            if utt in paths:
                raise ManifestError(
                    f"{path} and {paths[utt]}: the same utterance twice (both CaFE_48k "
                    "and CaFE_192k below the data folder?); point data_folder at one"
                )
            paths[utt] = path
            fields[utt] = (speaker, emotion, intensity, sentence)
    if not paths:
        raise ManifestError(f"{data_folder}: no CaFE .wav files below this folder")
    if skip_preparation(save_folder, options, list(paths.values()), data_folder):
        return

    speakers = sorted({f[0] for f in fields.values()})
    found = {
        "files": len(paths),
        "files per emotion": dict(Counter(EMOTIONS[f[1]] for f in fields.values())),
        "speakers": len(speakers),
    }
    check_release(found, RELEASE if strict else None, data_folder)

    durations, _ = read_durations(paths)
    folds = contiguous_folds(speakers, num_folds)
    data = {}
    for utt, (speaker, emotion, intensity, sentence) in fields.items():
        data[utt] = {
            "wav": relative_wav(paths[utt], data_folder),
            "duration": durations[utt],
            "label": EMOTIONS[emotion],
            "speaker": speaker,
            "fold": folds[speaker],
            "gender": "male" if int(speaker) % 2 else "female",
            "intensity": "strong" if intensity == "2" else "mild",
            "text": SENTENCES[sentence],
        }
    write_manifest(
        save_folder,
        data,
        options,
        paths.values(),
        data_folder,
        protocol=f"{num_folds} speaker-independent folds of consecutive speakers",
    )
