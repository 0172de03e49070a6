"""Prepares IEMOCAP for emotion probing.

Layout (``IEMOCAP_full_release`` as distributed by USC SAIL)::

    data_folder/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav
    data_folder/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt
    data_folder/Session1/dialog/transcriptions/Ses01F_impro01.txt
    ... Session2 ... Session5

An ``EmoEvaluation`` file has one line per labelled turn,
``[START - END]<TAB>UTT_ID<TAB>CODE<TAB>[V, A, D]``, where CODE is the
consensus category (neu, hap, exc, ang, sad, fru, fea, sur, dis, oth, xxx).
A transcription line is ``UTT_ID [START-END]: text``.

Protocol: leave-one-session-out (5 folds; ``fold`` = ``Session1`` ...).
Speaker = session + gender of the turn's speaker (``Ses01F``): 10 speakers.

- ``num_classes: 4`` (default): neutral, happy (happy + excited merged),
  angry, sad; 5531 utterances (1708, 1636, 1103, 1084).
- ``num_classes: 6``: neutral, happy, excited, angry, sad, frustrated; 7380
  utterances (1708, 595, 1041, 1103, 1084, 1849).
- ``task: dimensional``: every labelled turn (10039, all categories,
  ``num_classes`` ignored) with the ``[V, A, D]`` of its line (the
  evaluators' mean ratings, 1 to 5) as ``valence``, ``arousal`` and
  ``dominance``; the probe regresses them (``care.probing.dimensional``),
  leave-one-session-out as above. The manifest's ``label`` is the turn's
  category name (``xxx``: ``no_agreement``).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import glob
import os
import re

from speechbrain.utils.logger import get_logger

from care.processing.corpus import read_durations, read_text, require_audio, require_dir
from care.processing.manifest import ManifestError, check_counts, check_labels, relative_wav
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

CODES = {"neu", "hap", "exc", "ang", "sad", "fru", "fea", "sur", "dis", "oth", "xxx"}
CLASSES = {
    4: {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"},
    6: {
        "neu": "neutral",
        "hap": "happy",
        "exc": "excited",
        "ang": "angry",
        "sad": "sad",
        "fru": "frustrated",
    },
}
EXPECTED_LABELS = {
    4: {"neutral": 1708, "happy": 1636, "angry": 1103, "sad": 1084},
    6: {"neutral": 1708, "happy": 595, "excited": 1041, "angry": 1103, "sad": 1084, "frustrated": 1849},
}
# task: dimensional keeps every labelled turn, named by its category.
ALL_CLASSES = dict(
    CLASSES[6], fea="fear", sur="surprise", dis="disgust", oth="other", xxx="no_agreement"
)
EXPECTED_TURNS = 10039
TASKS = ("categorical", "dimensional")
SESSIONS = [f"Session{index}" for index in range(1, 6)]
EVALUATION = re.compile(r"^\[(\d+\.\d+) - (\d+\.\d+)\]\t(Ses\S+)\t(\S+)\t\[([^\]]*)\]")
TRANSCRIPT = re.compile(r"^(Ses\S+) \[[\d.]+-[\d.]+\]: ?(.*)$")
HINT = "data_folder must be IEMOCAP_full_release (the folder holding Session1 ... Session5)"


def prepare_iemocap(data_folder, save_folder, num_classes=4, strict=True, task="categorical"):
    """Writes ``<save_folder>/data.json`` and ``prepare.json`` for IEMOCAP.

    Arguments
    ---------
    data_folder : str
        ``IEMOCAP_full_release``.
    save_folder : str
        Where the manifest goes.
    num_classes : int
        4 (happy and excited merged) or 6 (adds excited and frustrated).
    strict : bool
        Check the official release: the counts per class (see the module
        docstring), or the total of 10039 turns for ``task: dimensional``;
        False accepts a subset.
    task : str
        ``categorical`` (the ``num_classes`` classes) or ``dimensional``
        (every turn, with its valence, arousal and dominance).
    """
    if num_classes not in CLASSES:
        raise ManifestError(f"num_classes must be 4 or 6, not {num_classes}")
    if task not in TASKS:
        raise ManifestError(f"task must be one of {TASKS}, not {task!r}")
    options = {"num_classes": num_classes, "strict": strict}
    if task != "categorical":  # (the default's options, and so its skip, unchanged)
        options["task"] = task
    classes = CLASSES[num_classes] if task == "categorical" else ALL_CLASSES
    turns, paths, label_files = {}, {}, []
    for session in SESSIONS:
        base = require_dir(os.path.join(data_folder, session), "an IEMOCAP session", HINT)
        evaluation = require_dir(os.path.join(base, "dialog", "EmoEvaluation"), "emotion labels")
        wav_dir = require_dir(os.path.join(base, "sentences", "wav"), "utterance audio")
        files = sorted(
            f for f in glob.glob(os.path.join(evaluation, "*.txt")) if not os.path.basename(f).startswith("._")
        )
        if not files:
            raise ManifestError(f"{evaluation}: no label files (*.txt)")
        for label_file in files:
            label_files.append(label_file)
            for line in read_text(label_file).splitlines():
                match = EVALUATION.match(line)
                if match is None:
                    continue
                start, end, utt, code, vad = match.groups()
                check_labels([code], CODES, label_file)
                if code not in classes:
                    continue
                dialog = utt.rsplit("_", 1)[0]
                turns[utt] = (session, code, vad, dialog)
                paths[utt] = os.path.join(wav_dir, dialog, utt + ".wav")
    require_audio(paths, "labelled utterances")
    if skip_preparation(save_folder, options, list(paths.values()) + label_files, data_folder):
        return

    labels = {}
    for _, code, _, _ in turns.values():
        labels[classes[code]] = labels.get(classes[code], 0) + 1
    if task == "categorical":
        expected = EXPECTED_LABELS[num_classes] if strict else None
        check_counts(labels, expected, "utterances per class", data_folder)
    else:
        check_counts(len(turns), EXPECTED_TURNS if strict else None, "labelled turns", data_folder)

    texts = _transcripts(data_folder, {t[3] for t in turns.values()}, {t[0] for t in turns.values()})
    durations, _ = read_durations(paths)
    data = {}
    for utt, (session, code, vad, _) in sorted(turns.items()):
        gender = utt.rsplit("_", 1)[1][0]
        if gender not in "MF":
            raise ManifestError(f"{utt}: cannot read the speaker's gender from the turn id")
        entry = {
            "wav": relative_wav(paths[utt], data_folder),
            "duration": durations[utt],
            "label": classes[code],
            "speaker": utt[:5] + gender,
            "fold": session,
            "session": session,
        }
        entry.update(_vad(vad, utt))
        if utt in texts:
            entry["text"] = texts[utt]
        data[utt] = entry
    without_text = sum("text" not in entry for entry in data.values())
    if without_text:
        logger.warning(f"{without_text} utterances have no transcription line")
    what = f"{num_classes} classes" if task == "categorical" else "attributes valence, arousal, dominance"
    write_manifest(
        save_folder,
        data,
        options,
        list(paths.values()) + label_files,
        data_folder,
        protocol=f"leave-one-session-out, {what}",
    )


def _vad(text, utt):
    try:
        valence, arousal, dominance = (float(value) for value in text.split(","))
    except ValueError:
        raise ManifestError(f"{utt}: unreadable [V, A, D] values {text!r}") from None
    return {"valence": valence, "arousal": arousal, "dominance": dominance}


def _transcripts(data_folder, dialogs, sessions):
    """``{utt_id: text}`` from the dialogs' transcription files."""
    texts = {}
    for session in sorted(sessions):
        folder = os.path.join(data_folder, session, "dialog", "transcriptions")
        for dialog in sorted(d for d in dialogs if os.path.isfile(os.path.join(folder, d + ".txt"))):
            for line in read_text(os.path.join(folder, dialog + ".txt")).splitlines():
                match = TRANSCRIPT.match(line.strip())
                if match:
                    texts[match.group(1)] = match.group(2).strip()
    return texts
