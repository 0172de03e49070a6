"""Data preparation for your own corpus, described by a CSV file.

The CSV has a header row and (at least) these columns::

    path,label,speaker
    alice/0001.wav,happy,alice
    alice/0002.flac,neutral,alice
    bob/take3.wav,angry,bob

- ``path``: the audio file, relative to ``data_folder`` (an absolute path
  inside ``data_folder`` works too). Any format and sample rate soundfile
  reads (WAV, FLAC, OGG, MP3, ...), mono or multi-channel.
- ``label``: the emotion class (any strings; the classes are the labels found).
- ``speaker``: who speaks. Speakers define the folds, so that no speaker is
  ever in both the training and the test data of a fold.
- ``fold`` (optional): your own fold of each utterance (e.g. the sessions of
  a corpus, or ``train`` / ``valid`` / ``test`` for an official split). Without
  it, speakers are grouped into ``num_folds`` folds balanced in size and
  label distribution.

A dimensional corpus (``task: dimensional``: numeric attributes such as
arousal, valence and dominance, probed by regression and scored by CCC) has a
numeric column per attribute; ``label`` is then optional::

    path,speaker,arousal,valence,dominance
    alice/0001.wav,alice,4.2,3.0,3.8
    bob/take3.wav,bob,2.0,5.5,3.1

``attributes`` names the columns (any names but the manifest's own fields:
``wav``, ``duration``, ``label``, ``speaker``, ``fold``); by default those of
``arousal``, ``valence``, ``dominance`` the header has. Every value must be a
plain decimal number (``4.2``, ``-1e3``; an error names the line and column),
and a column must not hold one value everywhere (nothing to predict).

A categorical corpus whose label has one utterance, or one speaker, is
prepared with a warning that names it: speaker-independent folds cannot both
train and test such a label.

Writes ``<save_folder>/data.json`` in the manifest form shared by every
emotion recipe (see ``care.processing.manifest``) and ``prepare.json``; a
second call with the same CSV, options and audio files does nothing.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import hashlib
import os

from speechbrain.utils.logger import get_logger

from care.processing.checks import (
    check_attribute_names,
    check_attribute_values,
    read_number,
    warn_label_spread,
)
from care.processing.corpus import read_durations, read_table, require_file
from care.processing.folds import assign_speaker_folds
from care.processing.manifest import ManifestError, relative_wav, validate_manifest
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

REQUIRED_COLUMNS = ("path", "label", "speaker")
ATTRIBUTES = ("arousal", "valence", "dominance")  # looked for by task: dimensional


def prepare_csv(data_folder, save_folder, csv_file, num_folds=5, max_bad_files=0,
                task="categorical", attributes=None):
    """Writes ``data.json`` and ``prepare.json`` for the corpus in ``csv_file``.

    Arguments
    ---------
    data_folder : str
        The folder the CSV's paths are relative to.
    save_folder : str
        Where the manifest goes.
    csv_file : str
        The CSV (``path,label,speaker`` and optionally ``fold``).
    num_folds : int
        Speaker-independent folds to make when the CSV has no ``fold``
        column (at least 3: one tests, one validates, the rest train).
    max_bad_files : int or None
        Utterances whose audio file is missing or unreadable that are
        skipped (logged with their count); one more stops the preparation
        with an error listing them. 0 (the default): any such file stops it;
        None: any number is skipped.
    task : str
        ``categorical`` (the ``label`` column) or ``dimensional`` (numeric
        attribute columns, copied into the manifest as numbers).
    attributes : list of str, optional
        The attribute columns of a dimensional corpus; None: those of
        arousal, valence, dominance the CSV has.
    """
    if task not in ("categorical", "dimensional"):
        raise ManifestError(f"task must be categorical or dimensional, not {task!r}")
    required = REQUIRED_COLUMNS if task == "categorical" else ("path", "speaker")  # label optional
    rows = _read_csv(csv_file, data_folder, required)
    columns = _attribute_columns(csv_file, rows, attributes) if task == "dimensional" else []
    files = [_audio_path(row["path"], data_folder) for row in rows]
    with open(csv_file, "rb") as handle:
        csv_hash = hashlib.sha256(handle.read()).hexdigest()
    options = {"csv_sha256": csv_hash, "num_folds": num_folds, "max_bad_files": max_bad_files}
    if task == "dimensional":  # (the categorical options, and so their skip, unchanged)
        options.update(task=task, attributes=columns)
    present = [path for path in files if os.path.isfile(path)]
    if skip_preparation(save_folder, options, present, data_folder):
        return

    # Durations from the file headers; None: any number of unusable files is
    # returned, and handled here as max_bad_files says.
    durations, unusable = read_durations(dict(enumerate(files)), max_bad_files=None)
    problems = list(unusable.values())
    data = {}
    for index, (row, path) in enumerate(zip(rows, files)):
        if index not in durations:
            continue
        # The utterance id is the relative path: unique, and readable in results.
        wav = relative_wav(path, data_folder)
        data[wav.split("/", 1)[1]] = {
            "wav": wav,
            "duration": round(durations[index], 4),
            "label": row.get("label") or "none",  # a dimensional corpus may have no classes
            "speaker": row["speaker"],
            "fold": row.get("fold"),  # None: made from speakers below
            **{column: row[column] for column in columns},  # numbers (checked when read)
        }
    if max_bad_files is not None and len(problems) > max_bad_files:
        raise ManifestError(
            f"{csv_file}: {len(problems)} audio file(s) missing or unreadable "
            f"(max_bad_files: {max_bad_files}; raise it, or null, to skip them): "
            + "; ".join(problems[:5])
        )
    if problems:
        logger.warning(f"{csv_file}: skipped {len(problems)} unusable files, e.g. {problems[:3]}")

    if any(entry["fold"] is None for entry in data.values()):
        # Speaker-independent folds: every speaker's utterances in one fold,
        # folds balanced in size and label distribution.
        if num_folds < 3:
            raise ManifestError(f"num_folds must be at least 3, got {num_folds}")
        assign_speaker_folds(data, num_folds)
        speakers = len({entry["speaker"] for entry in data.values()})
        protocol = (
            f"{num_folds} speaker-independent folds ({speakers} speakers grouped, "
            "balancing size and labels); each fold is the test set once, the next fold selects the "
            "epoch, the others train"
        )
    else:
        protocol = "the CSV's fold column (speaker overlap between folds is refused)"
    validate_manifest(data, csv_file)
    if task == "categorical" and len({entry["label"] for entry in data.values()}) < 2:
        raise ManifestError(f"{csv_file}: needs at least two labels")
    if task == "categorical":
        warn_label_spread(data, csv_file)
    check_attribute_values(data, columns, csv_file)
    # Your own folds may put a speaker in two of them: fold_splits refuses
    # such a manifest when the probe splits it, naming the speakers.
    write_manifest(
        save_folder, data, options, present, data_folder, protocol=protocol, check_speakers=False
    )


def _read_csv(csv_file, data_folder, required=REQUIRED_COLUMNS):
    """The CSV's rows as dicts, checked for the ``required`` columns, extra or
    empty values and duplicate files, however spelled (``./wav/x.wav`` and
    ``wav//x.wav``); errors name the file and the line."""
    table = read_table(require_file(csv_file, "the corpus CSV"), required)
    rows, seen = [], {}
    for line, row in enumerate(table, start=2):
        if None in row:  # csv.DictReader keeps fields beyond the header under None
            raise ManifestError(
                f"{csv_file}, line {line}: {len(row[None])} more field(s) than the header "
                f"names ({row[None]}); quote values that contain commas"
            )
        row = {k.strip(): (v or "").strip() for k, v in row.items()}
        empty = [c for c in tuple(required) + ("fold",) if c in row and not row[c]]
        if empty:
            raise ManifestError(f"{csv_file}, line {line}: empty {empty}")
        path = _audio_path(row["path"], data_folder)
        if path in seen:
            raise ManifestError(
                f"{csv_file}, line {line}: {row['path']} already listed on line "
                f"{seen[path]} (both name {path})"
            )
        seen[path] = line
        rows.append(row)
    return rows


def _attribute_columns(csv_file, rows, attributes=None):
    """The attribute columns of a dimensional CSV, their values turned into
    numbers in ``rows``; errors name the file, the line and the column."""
    header = set(rows[0]) if rows else set()
    columns = list(attributes) if attributes else [c for c in ATTRIBUTES if c in header]
    columns = check_attribute_names(columns, csv_file)
    missing = [c for c in columns if c not in header]
    if not columns or missing:
        raise ManifestError(
            f"{csv_file}: task dimensional needs numeric attribute columns "
            + (f"(missing {missing})" if missing else f"(none of {list(ATTRIBUTES)} in the header)")
        )
    for line, row in enumerate(rows, start=2):
        for column in columns:
            value = read_number(row[column])
            if value is None:
                raise ManifestError(f"{csv_file}, line {line}: {column} is not a number "
                                    f"({row[column]!r}); write a plain decimal such as 4.25 or -1e3")
            row[column] = value
    return columns


def _audio_path(path, data_folder):
    """The file a CSV path names, normalised (one spelling per file)."""
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(data_folder, path))
