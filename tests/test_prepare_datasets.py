"""Prepare scripts of the emotion corpora that are not in the shared data
(IEMOCAP, MSP-Podcast, MELD, CMU-MOSI, RAVDESS, CREMA-D, CaFE, nEMO, ASED,
BAVED).

Each test builds, in ``tmp_path``, a tiny corpus laid out exactly like the
official release (folder and file names, label files in their real format,
a few generated WAVs of a few hundredths of a second) and checks counts,
labels, folds, speaker independence, the idempotent skip and the errors.
"""

import json
import os
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from speechbrain.dataio import audio_io

from care.processing.folds import check_fold_overlap, fold_splits
from care.processing.manifest import ManifestError, SpeakerOverlapError
from conftest import load_module

REPO = Path(__file__).resolve().parents[1]
RATE = 16000


def load(recipe, module):
    """Imports ``recipes/<recipe>/emotion/<module>.py``."""
    return load_module(REPO / "recipes" / recipe / "emotion" / f"{module}.py", module)


def wav(path, seconds=0.05, rate=RATE):
    """A short generated clip (noise) at ``path``; two names never give the
    same bytes (preparations drop byte-identical copies)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(zlib.crc32(path.name.encode()))
    audio_io.save(str(path), 0.1 * torch.randn(1, int(seconds * rate), generator=generator), rate)
    return path


def manifest(save):
    with open(Path(save) / "data.json", encoding="utf-8") as handle:
        return json.load(handle)


def record(save):
    with open(Path(save) / "prepare.json", encoding="utf-8") as handle:
        return json.load(handle)


def assert_idempotent(prepare, data_folder, save, utt, **options):
    """A second call with the same options on unchanged audio writes nothing;
    a changed audio file (``utt``'s) prepares again."""
    target = Path(save) / "data.json"
    first = target.stat().st_mtime_ns
    time.sleep(0.01)
    prepare(data_folder, save, **options)
    assert target.stat().st_mtime_ns == first
    audio = manifest(save)[utt]["wav"].replace("{data_root}", str(data_folder))
    wav(audio, seconds=0.07)  # same name, other content
    prepare(data_folder, save, **options)
    assert target.stat().st_mtime_ns != first
    assert manifest(save)[utt]["duration"] == pytest.approx(0.07)


def assert_contract(data, data_folder):
    """Every entry follows the manifest contract and points at a real file."""
    for utt, entry in data.items():
        assert {"wav", "duration", "label", "speaker", "fold"} <= set(entry), utt
        assert entry["wav"].startswith("{data_root}/")
        assert os.path.isfile(entry["wav"].replace("{data_root}", str(data_folder)))
        assert entry["duration"] > 0


# ---------------------------------------------------------------------------
# Shared checks


def test_fold_overlap_is_refused():
    data = {
        "a": {"speaker": "s1", "fold": "fold1"},
        "b": {"speaker": "s1", "fold": "fold2"},
        "c": {"speaker": "s2", "fold": "fold2"},
    }
    with pytest.raises(SpeakerOverlapError, match="s1"):
        check_fold_overlap(data)


# ---------------------------------------------------------------------------
# RAVDESS


def ravdess_tree(root):
    for actor in ("01", "02", "03", "04"):
        for emotion, intensity in (("01", "01"), ("05", "02")):
            wav(root / f"Actor_{actor}" / f"03-01-{emotion}-{intensity}-01-01-{actor}.wav")
    wav(root / "Actor_01" / "03-02-03-01-01-01-01.wav")  # song: not speech
    return root


def test_ravdess(tmp_path):
    mod = load("RAVDESS", "ravdess_prepare")
    root, save = ravdess_tree(tmp_path / "ravdess"), tmp_path / "save"
    mod.prepare_ravdess(root, save, num_folds=2, strict=False)
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 8
    assert {e["label"] for e in data.values()} == {"neutral", "angry"}
    assert {e["speaker"]: e["fold"] for e in data.values()} == {
        "Actor_01": "fold1",
        "Actor_02": "fold1",
        "Actor_03": "fold2",
        "Actor_04": "fold2",
    }
    assert data["03-01-05-02-01-01-02"]["gender"] == "female"
    assert data["03-01-05-02-01-01-02"]["text"] == "Kids are talking by the door"
    assert record(save)["skipped_song_or_video_files"] == 1
    assert_idempotent(
        mod.prepare_ravdess, root, save, "03-01-01-01-01-01-03", num_folds=2, strict=False
    )
    mod.prepare_ravdess(root, save, num_folds=4, strict=False)
    assert len({e["fold"] for e in manifest(save).values()}) == 4


def test_ravdess_errors(tmp_path):
    mod = load("RAVDESS", "ravdess_prepare")
    root = ravdess_tree(tmp_path / "ravdess")
    with pytest.raises(ManifestError, match="speech files differ from the official release"):
        mod.prepare_ravdess(root, tmp_path / "s1")  # strict by default: 8 of 1440
    with pytest.raises(ManifestError, match="no Actor_XX folders"):
        mod.prepare_ravdess(tmp_path / "empty", tmp_path / "s2", strict=False)
    wav(root / "Actor_02" / "03-01-09-01-01-01-02.wav")
    with pytest.raises(ManifestError, match=r"03-01-09-01-01-01-02.wav: unknown labels \['09'\]"):
        mod.prepare_ravdess(root, tmp_path / "s3", num_folds=2, strict=False)
    os.remove(root / "Actor_02" / "03-01-09-01-01-01-02.wav")
    wav(root / "Actor_02" / "03-01-01-01-01-01-03.wav")
    with pytest.raises(ManifestError, match="actor 03 in folder Actor_02"):
        mod.prepare_ravdess(root, tmp_path / "s4", num_folds=2, strict=False)


# ---------------------------------------------------------------------------
# CREMA-D


def cremad_tree(root):
    for actor in ("1001", "1002", "1003", "1004"):
        wav(root / "AudioWAV" / f"{actor}_DFA_ANG_XX.wav")
        wav(root / "AudioWAV" / f"{actor}_IEO_NEU_XX.wav")
    wav(root / "AudioWAV" / "1001_IEO_HAP_HI.wav")
    return root


def test_cremad(tmp_path):
    mod = load("CREMA-D", "cremad_prepare")
    root, save = cremad_tree(tmp_path / "CREMA-D"), tmp_path / "save"
    (root / "AudioWAV" / "1076_MTI_NEU_XX.wav").write_bytes(b"")  # unreadable, as reported
    mod.prepare_cremad(root, save, num_folds=2, strict=False, max_bad_files=1)
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 9 and "1076_MTI_NEU_XX" not in data
    assert {e["label"] for e in data.values()} == {"angry", "neutral", "happy"}
    assert data["1001_DFA_ANG_XX"]["text"] == "Don't forget a jacket."
    assert data["1001_IEO_HAP_HI"]["intensity"] == "high"
    folds = {}
    for entry in data.values():
        folds.setdefault(entry["fold"], set()).add(entry["speaker"])
    assert sorted(len(s) for s in folds.values()) == [2, 2]
    assert list(record(save)["skipped_unreadable"]) == ["1076_MTI_NEU_XX"]
    assert_idempotent(
        mod.prepare_cremad, root, save, "1002_DFA_ANG_XX",
        num_folds=2, strict=False, max_bad_files=1,
    )


def test_cremad_errors(tmp_path):
    mod = load("CREMA-D", "cremad_prepare")
    root = cremad_tree(tmp_path / "CREMA-D")
    with pytest.raises(ManifestError, match="files differ from the official release"):
        mod.prepare_cremad(root, tmp_path / "s1")
    (root / "AudioWAV" / "1005_DFA_ANG_XX.wav").write_bytes(b"")
    with pytest.raises(ManifestError, match="1 unreadable audio files, at most 0"):
        mod.prepare_cremad(root, tmp_path / "s2", num_folds=2, strict=False, max_bad_files=0)
    (root / "AudioWAV" / "1005_DFA_ANG_XX.wav").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:c6f9\nsize 72862\n"
    )
    with pytest.raises(ManifestError, match="Git LFS pointer"):
        mod.prepare_cremad(root, tmp_path / "s3", num_folds=2, strict=False, max_bad_files=5)
    os.remove(root / "AudioWAV" / "1005_DFA_ANG_XX.wav")
    wav(root / "AudioWAV" / "1005_DFA_XYZ_XX.wav")
    with pytest.raises(ManifestError, match=r"1005_DFA_XYZ_XX.wav: unknown labels \['XYZ'\]"):
        mod.prepare_cremad(root, tmp_path / "s4", num_folds=2, strict=False)
    with pytest.raises(ManifestError, match="AudioWAV: missing folder"):
        mod.prepare_cremad(tmp_path / "nothing", tmp_path / "s5", strict=False)


# ---------------------------------------------------------------------------
# CaFE


def cafe_tree(root):
    for speaker in ("01", "02", "03", "04"):
        wav(root / "Colère" / "Faible" / f"{speaker}-C-1-1.wav")
        wav(root / "Colère" / "Fort" / f"{speaker}-C-2-1.wav")
        wav(root / "Neutre" / f"{speaker}-N-1-2.wav")
    return root


def test_cafe(tmp_path):
    mod = load("CaFE", "cafe_prepare")
    root, save = cafe_tree(tmp_path / "CaFE_48k"), tmp_path / "save"
    mod.prepare_cafe(root, save, num_folds=2, strict=False)
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 12
    assert {e["label"] for e in data.values()} == {"angry", "neutral"}
    assert {e["speaker"]: e["fold"] for e in data.values()} == {
        "01": "fold1", "02": "fold1", "03": "fold2", "04": "fold2",
    }
    assert data["02-C-2-1"]["intensity"] == "strong" and data["02-C-2-1"]["gender"] == "female"
    assert data["01-N-1-2"]["text"] == "Deux ânes aigris au pelage brun"
    assert_idempotent(mod.prepare_cafe, root, save, "03-N-1-2", num_folds=2, strict=False)
    mod.prepare_cafe(root, save, num_folds=4, strict=False)  # leave-one-speaker-out
    assert len({e["fold"] for e in manifest(save).values()}) == 4


def test_cafe_errors(tmp_path):
    mod = load("CaFE", "cafe_prepare")
    root = cafe_tree(tmp_path / "CaFE" / "CaFE_48k")
    with pytest.raises(ManifestError, match="files differ from the official release"):
        mod.prepare_cafe(root, tmp_path / "s1")
    wav(tmp_path / "CaFE" / "CaFE_192k" / "Neutre" / "01-N-1-2.wav")
    with pytest.raises(ManifestError, match="the same utterance twice"):
        mod.prepare_cafe(tmp_path / "CaFE", tmp_path / "s2", num_folds=2, strict=False)
    wav(root / "Neutre" / "05-N-2-1.wav")
    with pytest.raises(ManifestError, match="intensity 2 does not exist for emotion N"):
        mod.prepare_cafe(root, tmp_path / "s3", num_folds=2, strict=False)
    os.remove(root / "Neutre" / "05-N-2-1.wav")
    wav(root / "Joie" / "Fort" / "05-X-2-1.wav")
    with pytest.raises(ManifestError, match=r"unknown labels \['X'\]"):
        mod.prepare_cafe(root, tmp_path / "s4", num_folds=2, strict=False)
    with pytest.raises(ManifestError, match="missing folder"):
        mod.prepare_cafe(tmp_path / "absent", tmp_path / "s5")


# ---------------------------------------------------------------------------
# IEMOCAP

IEMOCAP_TURNS = [  # (turn suffix, code, start, end, [V, A, D])
    ("F000", "neu", 6.2901, 8.2357, (3.0, 2.0, 2.5)),
    ("M000", "exc", 10.0100, 11.3925, (4.0, 4.5, 3.5)),
    ("F001", "fru", 14.8872, 18.0175, (2.0, 3.5, 3.0)),
    ("M001", "xxx", 19.2900, 20.7875, (2.5, 2.5, 2.0)),
    ("F002", "hap", 21.3257, 24.7400, (4.5, 3.0, 3.0)),
]


def iemocap_tree(root, sessions=range(1, 6)):
    for index in sessions:
        session = root / f"Session{index}"
        dialog = f"Ses0{index}F_impro01"
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        text = []
        for suffix, code, start, end, vad in IEMOCAP_TURNS:
            utt = f"{dialog}_{suffix}"
            lines += [
                f"[{start:.4f} - {end:.4f}]\t{utt}\t{code}\t[" + ", ".join(f"{x:.4f}" for x in vad) + "]",
                "C-E2:\tNeutral;\t()",
                "A-E3:\tval 3; act 2; dom  2;\t()",
                "",
            ]
            text.append(f"{utt} [{start:08.4f}-{end:08.4f}]: Excuse me {suffix}.")
            wav(session / "sentences" / "wav" / dialog / f"{utt}.wav")
        text.append("M: [LAUGHTER]")
        evaluation = session / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
        evaluation.parent.mkdir(parents=True, exist_ok=True)
        evaluation.write_text("\n".join(lines) + "\n")
        (session / "dialog" / "EmoEvaluation" / "Categorical").mkdir()
        transcript = session / "dialog" / "transcriptions" / f"{dialog}.txt"
        transcript.parent.mkdir(parents=True, exist_ok=True)
        transcript.write_text("\n".join(text) + "\n")
    return root


def test_iemocap(tmp_path):
    mod = load("IEMOCAP", "iemocap_prepare")
    root, save = iemocap_tree(tmp_path / "IEMOCAP_full_release"), tmp_path / "save"
    mod.prepare_iemocap(root, save, strict=False)
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 15  # neu, exc, hap per session
    assert {e["label"] for e in data.values()} == {"neutral", "happy"}
    entry = data["Ses03F_impro01_M000"]
    assert (entry["label"], entry["speaker"], entry["fold"]) == ("happy", "Ses03M", "Session3")
    assert entry["text"] == "Excuse me M000." and entry["arousal"] == 4.5
    assert len({e["speaker"] for e in data.values()}) == 10
    folds = list(fold_splits(data))
    assert [name for name, *_ in folds] == [f"Session{i}" for i in range(1, 6)]
    assert_idempotent(
        mod.prepare_iemocap, root, save,
        "Ses02F_impro01_F000", strict=False,
    )
    mod.prepare_iemocap(root, save, num_classes=6, strict=False)
    six = manifest(save)
    assert len(six) == 20
    assert {e["label"] for e in six.values()} == {"neutral", "happy", "excited", "frustrated"}


def test_iemocap_errors(tmp_path):
    mod = load("IEMOCAP", "iemocap_prepare")
    root = iemocap_tree(tmp_path / "IEMOCAP_full_release")
    with pytest.raises(ManifestError, match="utterances per class differ from the official release"):
        mod.prepare_iemocap(root, tmp_path / "s1")
    partial = iemocap_tree(tmp_path / "partial", sessions=(1, 2))
    with pytest.raises(ManifestError, match="Session3: missing folder"):
        mod.prepare_iemocap(partial, tmp_path / "s2", strict=False)
    label_file = root / "Session4" / "dialog" / "EmoEvaluation" / "Ses04F_impro01.txt"
    label_file.write_text(label_file.read_text().replace("\tneu\t", "\tcalm\t"))
    with pytest.raises(ManifestError, match=r"Ses04F_impro01.txt: unknown labels \['calm'\]"):
        mod.prepare_iemocap(root, tmp_path / "s3", strict=False)
    label_file.write_text(label_file.read_text().replace("\tcalm\t", "\tneu\t"))
    os.remove(root / "Session5" / "sentences" / "wav" / "Ses05F_impro01" / "Ses05F_impro01_F000.wav")
    with pytest.raises(ManifestError, match="1 labelled utterances have no audio file"):
        mod.prepare_iemocap(root, tmp_path / "s4", strict=False)


def test_iemocap_dimensional(tmp_path):
    """task: dimensional keeps every labelled turn (xxx and fru included) with
    the [V, A, D] of its line; strict checks the release's 10039 turns."""
    mod = load("IEMOCAP", "iemocap_prepare")
    root, save = iemocap_tree(tmp_path / "IEMOCAP_full_release"), tmp_path / "save"
    with pytest.raises(ManifestError, match="expected 10039 labelled turns, found 25"):
        mod.prepare_iemocap(root, save, task="dimensional")
    mod.prepare_iemocap(root, save, strict=False, task="dimensional")
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 25 and len({e["fold"] for e in data.values()}) == 5
    entry = data["Ses02F_impro01_M001"]
    assert (entry["label"], entry["valence"], entry["arousal"], entry["dominance"]) == (
        "no_agreement", 2.5, 2.5, 2.0)
    assert data["Ses04F_impro01_F001"]["label"] == "frustrated"
    assert record(save)["options"]["task"] == "dimensional"
    with pytest.raises(ManifestError, match="task must be one of"):
        mod.prepare_iemocap(root, save, task="regression")


# ---------------------------------------------------------------------------
# MSP-Podcast

MSP_HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"
MSP_ROWS = [
    ("MSP-PODCAST_0001_0008.wav", "A", "6.2", "2.0", "5.4", "127", "Male", "Train"),
    ("MSP-PODCAST_0001_0019.wav", "N", "4.0", "4.2", "4.0", "Unknown", "Unknown", "Train"),
    ("MSP-PODCAST_0002_0033.wav", "X", "3.0", "3.0", "3.0", "128", "Female", "Train"),
    ("MSP-PODCAST_0003_0021.wav", "H", "5.0", "6.0", "4.6", "130", "Female", "Development"),
    ("MSP-PODCAST_0004_0005.wav", "S", "2.2", "2.0", "3.0", "131", "Male", "Test1"),
    ("MSP-PODCAST_0004_0011.wav", "O", "3.4", "3.2", "3.8", "131", "Male", "Test1"),
    ("MSP-PODCAST_0005_0002.wav", "C", "4.4", "3.0", "4.8", "132", "Female", "Test1"),
    ("MSP-PODCAST_0006_0010.wav", "N", "3.8", "4.0", "4.0", "140", "Male", "Test2"),
    ("MSP-PODCAST_0008_0001.wav", "X", "4.6", "3.8", "4.2", "133", "Female", "Development"),
    ("MSP-PODCAST_0009_0004.wav", "O", "2.8", "4.4", "3.4", "134", "Male", "Development"),
    ("MSP-PODCAST_0007_0003.wav", "", "", "", "", "", "", "Test3"),  # labels hidden
]


def msp_tree(root, rows=MSP_ROWS):
    for row in rows:
        wav(root / "Audios" / row[0])
    (root / "Labels").mkdir(parents=True, exist_ok=True)
    (root / "Labels" / "labels_consensus.csv").write_text(
        "\n".join([MSP_HEADER] + [",".join(row) for row in rows]) + "\n"
    )
    (root / "Transcripts").mkdir(exist_ok=True)
    (root / "Transcripts" / "MSP-PODCAST_0001_0008.txt").write_text("I can't believe they did that\n")
    return root


def test_msp_podcast(tmp_path):
    mod = load("MSP-Podcast", "msp_podcast_prepare")
    root, save = msp_tree(tmp_path / "MSP-PODCAST-Publish-1.11"), tmp_path / "save"
    mod.prepare_msp_podcast(root, save, strict=False)
    data = manifest(save)
    assert_contract(data, root)
    assert sorted(data) == [
        "MSP-PODCAST_0001_0008", "MSP-PODCAST_0001_0019", "MSP-PODCAST_0003_0021",
        "MSP-PODCAST_0004_0005", "MSP-PODCAST_0005_0002",
    ]
    assert {k: e["fold"] for k, e in data.items()}["MSP-PODCAST_0003_0021"] == "valid"
    entry = data["MSP-PODCAST_0001_0008"]
    assert (entry["label"], entry["speaker"], entry["fold"]) == ("angry", "127", "train")
    assert entry["text"] == "I can't believe they did that" and entry["arousal"] == 6.2
    assert data["MSP-PODCAST_0005_0002"]["label"] == "contempt"
    assert record(save)["unknown_speaker_segments"] == {"train": 1}
    assert_idempotent(mod.prepare_msp_podcast, root, save, "MSP-PODCAST_0004_0005", strict=False)
    mod.prepare_msp_podcast(root, save, num_classes=4, test_set="Test2", strict=False)
    four = manifest(save)
    assert {e["label"] for e in four.values()} == {"angry", "neutral", "happy"}
    assert [k for k, e in four.items() if e["fold"] == "test"] == ["MSP-PODCAST_0006_0010"]


def test_msp_podcast_errors(tmp_path):
    mod = load("MSP-Podcast", "msp_podcast_prepare")
    root = msp_tree(tmp_path / "msp")
    with pytest.raises(ManifestError, match="per partition differ from the official release"):
        mod.prepare_msp_podcast(root, tmp_path / "s1")
    with pytest.raises(ManifestError, match="release 2.0 are not known"):
        mod.prepare_msp_podcast(root, tmp_path / "s1", release="2.0")
    leaky = [row if row[0] != "MSP-PODCAST_0004_0005.wav" else row[:5] + ("127",) + row[6:] for row in MSP_ROWS]
    msp_tree(tmp_path / "leaky", leaky)
    with pytest.raises(SpeakerOverlapError, match="train/test: 127"):
        mod.prepare_msp_podcast(tmp_path / "leaky", tmp_path / "s2", strict=False)
    unknown = [row if row[0] != "MSP-PODCAST_0004_0005.wav" else row[:5] + ("Unknown",) + row[6:] for row in MSP_ROWS]
    msp_tree(tmp_path / "unknown", unknown)
    mod.prepare_msp_podcast(tmp_path / "unknown", tmp_path / "s3", strict=False)  # unknown ids: not checked
    assert record(tmp_path / "s3")["unknown_speaker_segments"] == {"test": 1, "train": 1}
    bad = [row if row[1] != "C" else row[:1] + ("Z",) + row[2:] for row in MSP_ROWS]
    msp_tree(tmp_path / "bad", bad)
    with pytest.raises(ManifestError, match=r"\(EmoClass\): unknown labels \['Z'\]"):
        mod.prepare_msp_podcast(tmp_path / "bad", tmp_path / "s4", strict=False)
    os.remove(root / "Audios" / "MSP-PODCAST_0003_0021.wav")
    with pytest.raises(ManifestError, match="1 labelled segments have no audio"):
        mod.prepare_msp_podcast(root, tmp_path / "s5", strict=False)
    with pytest.raises(ManifestError, match="Audios: missing folder"):
        mod.prepare_msp_podcast(tmp_path / "nowhere", tmp_path / "s6", strict=False)


def test_msp_podcast_dimensional(tmp_path):
    """task: dimensional keeps every labelled segment of Train, Development and
    the test partition (O and X included) with EmoAct, EmoVal, EmoDom as
    arousal, valence, dominance; a missing attribute is an error naming it."""
    mod = load("MSP-Podcast", "msp_podcast_prepare")
    root, save = msp_tree(tmp_path / "MSP-PODCAST-Publish-1.11"), tmp_path / "save"
    mod.prepare_msp_podcast(root, save, strict=False, task="dimensional")
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 9  # 3 Train, 3 Development, 3 Test1 (Test2 and Test3 left out)
    entry = data["MSP-PODCAST_0009_0004"]
    assert (entry["label"], entry["fold"]) == ("other", "valid")
    assert (entry["arousal"], entry["valence"], entry["dominance"]) == (2.8, 4.4, 3.4)
    assert data["MSP-PODCAST_0002_0033"]["label"] == "no_agreement"
    missing = [row if row[0] != "MSP-PODCAST_0001_0019.wav" else row[:3] + ("",) + row[4:] for row in MSP_ROWS]
    msp_tree(tmp_path / "missing", missing)
    with pytest.raises(ManifestError, match="MSP-PODCAST_0001_0019.wav: EmoVal is not a number"):
        mod.prepare_msp_podcast(tmp_path / "missing", tmp_path / "s1", strict=False, task="dimensional")


# ---------------------------------------------------------------------------
# MELD

MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"
MELD_ROWS = {
    "train": [
        ("1", "also I was the point person on my company's transition from the KL-5 to GR-6 system.",
         "Chandler", "neutral", "neutral", "0", "0", "8", "21", "00:16:16,059", "00:16:21,731"),
        ("2", "You must've had your hands full.", "The Interviewer", "neutral", "neutral", "0", "1", "8", "21",
         "00:16:21,940", "00:16:23,442"),
        ("3", "That I did. That I did.", "Ross", "joy", "positive", "1", "0", "8", "21",
         "00:16:23,442", "00:16:26,389"),
    ],
    "dev": [
        ("1", "Oh my God, he\u2019s lost it. He\u2019s totally lost it.", "Chandler", "sadness", "negative",
         "0", "0", "4", "7", "00:20:57,256", "00:21:00,049"),
        ("2", "What?", "Monica", "surprise", "negative", "0", "1", "4", "7", "00:21:01,927", "00:21:03,261"),
    ],
    "test": [
        ("1", "Why do all you\u2019re coffee mugs have numbers on the bottom?", "Ross", "surprise", "positive",
         "0", "0", "3", "19", "00:14:38,127", "00:14:40,378"),
        ("2", "Oh. That\u2019s so Monica can keep track.", "Rachel", "anger", "negative", "0", "1", "3", "19",
         "00:14:40,629", "00:14:47,385"),
    ],
}


def meld_tree(root, rows=MELD_ROWS):
    import csv

    for split, table in rows.items():
        folder = root / "train" if split == "train" else root  # as in MELD.Raw
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{split}_sent_emo.csv", "w", encoding="cp1252", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(MELD_HEADER.split(","))
            writer.writerows(table)
        for row in table:
            name = f"dia{row[5]}_utt{row[6]}"
            if (split, name) == ("dev", "dia0_utt1"):
                continue  # missing, like dev dia110_utt7 in the release
            ext = ".flac" if split == "test" and row[6] == "1" else ".wav"
            wav(root / "audio" / split / (name + ext))
    return root


def test_meld(tmp_path):
    mod = load("MELD", "meld_prepare")
    root, save = meld_tree(tmp_path / "MELD.Raw"), tmp_path / "save"
    mod.prepare_meld(root, save, strict=False, max_bad_files=1)
    data = manifest(save)
    assert_contract(data, root)
    assert sorted(data) == [
        "dev_dia0_utt0", "test_dia0_utt0", "test_dia0_utt1", "train_dia0_utt0", "train_dia0_utt1", "train_dia1_utt0",
    ]
    assert data["test_dia0_utt1"]["wav"].endswith(".flac")
    assert {e["fold"] for e in data.values()} == {"train", "valid", "test"}
    assert data["dev_dia0_utt0"]["text"] == "Oh my God, he\u2019s lost it. He\u2019s totally lost it."
    assert (data["train_dia1_utt0"]["label"], data["train_dia1_utt0"]["sentiment"]) == ("joy", "positive")
    info = record(save)
    assert info["speaker_overlap"]["train/valid"] == {"count": 1, "speakers": ["Chandler"]}
    assert info["speaker_overlap"]["train/test"]["speakers"] == ["Ross"]
    assert info["skipped_missing_audio"] == ["dev_dia0_utt1"]
    with pytest.raises(SpeakerOverlapError):  # the probe must be told: not speaker-independent
        list(fold_splits(data))
    assert len(list(fold_splits(data, check_speakers=False))) == 1
    assert_idempotent(mod.prepare_meld, root, save, "train_dia0_utt0",
                      strict=False, max_bad_files=1)


def test_meld_errors(tmp_path):
    mod = load("MELD", "meld_prepare")
    root = meld_tree(tmp_path / "MELD.Raw")
    with pytest.raises(ManifestError, match="label rows differ from the official release"):
        mod.prepare_meld(root, tmp_path / "s1", max_bad_files=1)
    with pytest.raises(ManifestError, match="1 MELD rows have no audio file"):
        mod.prepare_meld(root, tmp_path / "s2", strict=False, max_bad_files=0)
    with pytest.raises(ManifestError, match="wav/train: missing folder"):
        mod.prepare_meld(root, tmp_path / "s3", audio_folder="wav", strict=False)
    bad = dict(MELD_ROWS, test=[MELD_ROWS["test"][0][:3] + ("happy",) + MELD_ROWS["test"][0][4:]])
    meld_tree(tmp_path / "bad", bad)
    with pytest.raises(ManifestError, match=r"test_sent_emo.csv: unknown labels \['happy'\]"):
        mod.prepare_meld(tmp_path / "bad", tmp_path / "s4", strict=False, max_bad_files=1)
    os.remove(root / "dev_sent_emo.csv")
    with pytest.raises(ManifestError, match="dev_sent_emo.csv: missing file"):
        mod.prepare_meld(root, tmp_path / "s5", strict=False, max_bad_files=1)


# ---------------------------------------------------------------------------
# CMU-MOSI

MOSI_ROWS = [  # video_id, clip_id, text, label, mode
    ("03bSnISJMiM", "1", "anyhow it was really good", "2.4", "train"),
    ("03bSnISJMiM", "2", "i mean its a movie", "-0.6", "train"),
    ("WKA5OygbEKI", "1", "it was terrible", "-2.8", "valid"),
    ("tmZoasNr4rU", "1", "it was fine", "1.0", "test"),
    ("tmZoasNr4rU", "2", "so yeah", "0.0", "test"),
]


def mosi_tree(root, rows=MOSI_ROWS, text=True):
    lines = ["video_id,clip_id,text,label,mode" if text else "video_id,clip_id,label"]
    for video, clip, sentence, label, mode in rows:
        lines.append(",".join((video, clip, sentence, label, mode) if text else (video, clip, label)))
        wav(root / "Raw" / "Audio" / "WAV_16000" / "Segmented" / f"{video}_{clip}.wav")
    (root / "label.csv").write_text("\n".join(lines) + "\n")
    transcripts = root / "Raw" / "Transcript" / "Segmented"
    transcripts.mkdir(parents=True, exist_ok=True)
    (transcripts / "03bSnISJMiM.annotprocessed").write_text(
        "1_DELIM_ANYHOW IT WAS REALLY GOOD\n2_DELIM_I MEAN ITS A MOVIE\n"
    )
    return root


def test_cmu_mosi(tmp_path):
    mod = load("CMU-MOSI", "cmu_mosi_prepare")
    folds = mod.standard_folds()
    assert len(folds) == 93 and sorted(set(folds.values())) == ["test", "train", "valid"]
    root, save = mosi_tree(tmp_path / "CMU-MOSI"), tmp_path / "save"
    mod.prepare_cmu_mosi(root, save, strict=False)
    data = manifest(save)
    assert_contract(data, root)
    assert {k: e["label"] for k, e in data.items()} == {
        "03bSnISJMiM_1": "positive", "03bSnISJMiM_2": "negative", "WKA5OygbEKI_1": "negative",
        "tmZoasNr4rU_1": "positive", "tmZoasNr4rU_2": "positive",
    }
    assert {k: e["fold"] for k, e in data.items()}["WKA5OygbEKI_1"] == "valid"
    assert data["03bSnISJMiM_2"]["sentiment"] == -0.6 and data["03bSnISJMiM_2"]["speaker"] == "03bSnISJMiM"
    assert data["03bSnISJMiM_1"]["text"] == "anyhow it was really good"
    assert_idempotent(mod.prepare_cmu_mosi, root, save, "tmZoasNr4rU_1", strict=False)
    mod.prepare_cmu_mosi(root, save, zero="drop", strict=False)
    assert "tmZoasNr4rU_2" not in manifest(save) and record(save)["dropped_zero_score"] == 1
    plain = mosi_tree(tmp_path / "plain", text=False)  # no text, no mode: transcripts from Raw
    mod.prepare_cmu_mosi(plain, tmp_path / "s2", strict=False)
    assert manifest(tmp_path / "s2")["03bSnISJMiM_2"]["text"] == "I MEAN ITS A MOVIE"


def test_cmu_mosi_errors(tmp_path):
    mod = load("CMU-MOSI", "cmu_mosi_prepare")
    root = mosi_tree(tmp_path / "CMU-MOSI")
    with pytest.raises(ManifestError, match="segments per standard fold differ from the official release"):
        mod.prepare_cmu_mosi(root, tmp_path / "s1")
    mosi_tree(tmp_path / "mode", [MOSI_ROWS[0][:4] + ("test",)])
    with pytest.raises(ManifestError, match="is in 'test' there but in 'train' in the standard folds"):
        mod.prepare_cmu_mosi(tmp_path / "mode", tmp_path / "s2", strict=False)
    mosi_tree(tmp_path / "video", [("notAVideo01", "1", "x", "1.0", "train")])
    with pytest.raises(ManifestError, match="video notAVideo01 is in none of the standard folds"):
        mod.prepare_cmu_mosi(tmp_path / "video", tmp_path / "s3", strict=False)
    mosi_tree(tmp_path / "range", [MOSI_ROWS[0][:3] + ("3.5", "train")])
    with pytest.raises(ManifestError, match=r"label 3.5 outside \[-3, 3\]"):
        mod.prepare_cmu_mosi(tmp_path / "range", tmp_path / "s4", strict=False)
    with pytest.raises(ManifestError, match="zero must be"):
        mod.prepare_cmu_mosi(root, tmp_path / "s5", zero="neutral")
    os.remove(root / "label.csv")
    with pytest.raises(ManifestError, match="label.csv: missing file"):
        mod.prepare_cmu_mosi(root, tmp_path / "s6", strict=False)


# ---------------------------------------------------------------------------
# nEMO

NEMO_HEADER = "file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"
NEMO_EMOTIONS = ("anger", "fear", "happiness", "neutral", "sadness", "surprised")
NEMO_SPEAKERS = {"EB0": "female", "IC0": "female", "KS0": "male", "MP0": "male"}


def nemo_rows(speakers=NEMO_SPEAKERS):
    """data.tsv rows as released: speaker ids padded with spaces."""
    return [
        (f"{speaker}_{emotion}_{i + 1}.wav", emotion, f"Zdanie numer {i + 1}.",
         f"zdanie numer {i + 1}", f"        {speaker}", gender, "23")
        for speaker, gender in speakers.items()
        for i, emotion in enumerate(NEMO_EMOTIONS)
    ]


def nemo_tree(root, rows=None, audio=True):
    rows = nemo_rows() if rows is None else rows
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.tsv").write_text(
        "\n".join([NEMO_HEADER] + ["\t".join(row) for row in rows]) + "\n", encoding="utf-8")
    for row in rows if audio else ():
        wav(root / "samples" / row[0])
    wav(root / "samples" / "test.wav")  # not listed in data.tsv: skipped
    return root


def test_nemo(tmp_path, monkeypatch):
    mod = load("nEMO", "nemo_prepare")
    root, save = nemo_tree(tmp_path / "nEMO"), tmp_path / "save"
    mod.prepare_nemo(root, save, strict=False)
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 24 and {e["label"] for e in data.values()} == set(NEMO_EMOTIONS)
    entry = data["KS0_fear_2"]
    assert (entry["speaker"], entry["fold"], entry["gender"]) == ("KS0", "KS0", "male")
    assert entry["text"] == "Zdanie numer 2."
    assert record(save)["skipped_unlisted_files"] == ["test.wav"]
    splits = list(fold_splits(data))  # leave-one-speaker-out, overlap refused
    assert [name for name, *_ in splits] == ["EB0", "IC0", "KS0", "MP0"]
    assert all({e["speaker"] for e in test.values()} == {name} for name, _, _, test in splits)
    assert_idempotent(mod.prepare_nemo, root, save, "MP0_anger_1", strict=False)
    # strict: the release's counts (here the fixture's), labels and speakers
    monkeypatch.setattr(mod, "UTTERANCES", 24)
    monkeypatch.setattr(mod, "SPEAKERS", list(NEMO_SPEAKERS))
    mod.prepare_nemo(root, tmp_path / "strict")
    assert len(manifest(tmp_path / "strict")) == 24


def test_nemo_errors(tmp_path):
    mod = load("nEMO", "nemo_prepare")
    root = nemo_tree(tmp_path / "nEMO")
    with pytest.raises(ManifestError, match="expected 4481 utterances, found 24"):
        mod.prepare_nemo(root, tmp_path / "s1")  # strict by default: a subset is refused
    rows = nemo_rows()
    nemo_tree(tmp_path / "missing", rows + [("EB0_anger_9.wav",) + rows[0][1:]], audio=False)
    for row in rows:
        wav(tmp_path / "missing" / "samples" / row[0])
    with pytest.raises(ManifestError, match="1 clips listed in .*data.tsv have no audio file"):
        mod.prepare_nemo(tmp_path / "missing", tmp_path / "s2", strict=True)
    mod.prepare_nemo(tmp_path / "missing", tmp_path / "s3", strict=False)  # a subset: skipped
    assert record(tmp_path / "s3")["skipped_rows_without_audio"] == ["EB0_anger_9"]
    cases = {
        "EB0-anger-1.wav": "line 2 .EB0-anger-1.wav.: file_id is not <speaker>_<emotion>_<sentence>.wav",
        "IC0_anger_1.wav": "the name says speaker IC0, emotion anger; the columns say EB0, anger",
    }
    for name, message in cases.items():
        nemo_tree(tmp_path / name, [(name,) + rows[0][1:]] + rows[1:])
        with pytest.raises(ManifestError, match=message):
            mod.prepare_nemo(tmp_path / name, tmp_path / "s4", strict=False)
    nemo_tree(tmp_path / "joy", [("EB0_joy_1.wav", "joy") + rows[0][2:]])
    with pytest.raises(ManifestError, match=r"EB0_joy_1.wav.: unknown labels \['joy'\]"):
        mod.prepare_nemo(tmp_path / "joy", tmp_path / "s5", strict=False)
    nemo_tree(tmp_path / "twice", rows + rows[:1])
    with pytest.raises(ManifestError, match="EB0_anger_1.wav is listed twice"):
        mod.prepare_nemo(tmp_path / "twice", tmp_path / "s6", strict=False)
    with pytest.raises(ManifestError, match="data.tsv: missing file"):
        mod.prepare_nemo(tmp_path / "nothing", tmp_path / "s7", strict=False)


# ---------------------------------------------------------------------------
# ASED

ASED_FOLDERS = {"01Neutral": "n1", "02Fearful": "f2", "03Happy": "h3", "04Sad": "s4", "05Angry": "a5"}


def ased_tree(root, speakers=("01", "02", "03", "04", "05", "06")):
    """One clip per speaker and emotion; speaker 03's sad clip says gender 02
    (its others 01), one name is upper-case, and one file is a byte copy of
    its speaker's other repetition, as in the release."""
    for folder, code in ASED_FOLDERS.items():
        for number, speaker in enumerate(speakers):
            gender = "02" if number % 2 or (speaker == "03" and code == "s4") else "01"
            name = f"{code}-01-01-{gender}-{speaker}.wav"
            wav(root / folder / (name.capitalize() if (speaker, code) == ("02", "s4") else name))
    original = root / "01Neutral" / f"n1-01-01-01-{speakers[0]}.wav"
    (root / "01Neutral" / f"n1-01-02-01-{speakers[0]}.wav").write_bytes(original.read_bytes())
    return root


def test_ased(tmp_path, monkeypatch):
    mod = load("ASED", "ased_prepare")
    root, save = ased_tree(tmp_path / "ASED_V1"), tmp_path / "save"
    mod.prepare_ased(root, save, num_folds=3, strict=False)
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 30 and "n1-01-02-01-01" not in data  # the copy is left out
    assert {e["label"] for e in data.values()} == {"neutral", "fear", "happiness", "sadness", "anger"}
    assert data["S4-01-01-02-02"]["label"] == "sadness"  # upper-case name
    assert data["s4-01-01-02-03"]["gender"] == "female"  # the speaker's gender, not the file's
    info = record(save)
    assert info["identical_copies_dropped"] == {"n1-01-02-01-01": "n1-01-01-01-01"}
    assert info["gender_code_differs_from_speaker"] == {"s4-01-01-02-03": "02"}
    folds = {}
    for entry in data.values():
        folds.setdefault(entry["fold"], set()).add(entry["speaker"])
    assert sorted(folds) == ["g1", "g2", "g3"] and all(len(s) == 2 for s in folds.values())
    assert len(list(fold_splits(data))) == 3  # speaker overlap refused there
    assert_idempotent(mod.prepare_ased, root, save, "a5-01-01-02-04", num_folds=3, strict=False)
    mod.prepare_ased(root, tmp_path / "kept", num_folds=3, strict=False, drop_duplicates=False)
    assert "n1-01-02-01-01" in manifest(tmp_path / "kept")
    assert record(tmp_path / "kept")["identical_copies_kept"] == {"n1-01-02-01-01": "n1-01-01-01-01"}
    monkeypatch.setattr(mod, "RELEASE", {"files": 31, "speakers": 6})
    monkeypatch.setattr(mod, "COPIES", 1)
    mod.prepare_ased(root, tmp_path / "strict", num_folds=3)  # every strict check passes
    assert len(manifest(tmp_path / "strict")) == 30


def test_ased_errors(tmp_path):
    mod = load("ASED", "ased_prepare")
    root = ased_tree(tmp_path / "ASED_V1")
    with pytest.raises(ManifestError, match="expected 2474 files, found 31"):
        mod.prepare_ased(root, tmp_path / "s1")  # strict by default: a subset is refused
    with pytest.raises(ManifestError, match=r"missing emotion folders \['01Neutral'"):
        mod.prepare_ased(tmp_path / "nothing", tmp_path / "s2", strict=False)
    bad = {
        "a5-01-01-01-07.wav": "the name says a5, its folder 01Neutral holds n1",
        "n1-01-01-03-07.wav": "not an ASED name",
        "n1-1-01-01-07.wav": "not an ASED name",
    }
    for name, message in bad.items():
        path = wav(root / "01Neutral" / name)
        with pytest.raises(ManifestError, match=message):
            mod.prepare_ased(root, tmp_path / "s3", num_folds=3, strict=False)
        path.unlink()
    # a copy under another label, or (kept) under another speaker, is refused
    copy = root / "02Fearful" / "f2-02-01-01-01.wav"
    copy.write_bytes((root / "01Neutral" / "n1-01-01-01-01.wav").read_bytes())
    with pytest.raises(ManifestError, match="n1-01-01-01-01.wav .label neutral. is a byte-identical copy of .*f2-02-01-01-01.wav .label fear."):
        mod.prepare_ased(root, tmp_path / "s4", num_folds=3, strict=False)
    copy.unlink()
    copy = root / "01Neutral" / "n1-02-01-02-06.wav"
    copy.write_bytes((root / "01Neutral" / "n1-01-01-01-01.wav").read_bytes())
    with pytest.raises(ManifestError, match="n1-02-01-02-06.wav .speaker 06. is a byte-identical copy"):
        mod.prepare_ased(root, tmp_path / "s5", num_folds=3, strict=False, drop_duplicates=False)


# ---------------------------------------------------------------------------
# BAVED

BAVED_SPEAKERS = {"0": ("m", 21), "1": ("f", 20), "2": ("m", 22), "3": ("f", 19),
                  "4": ("m", 20), "5": ("m", 20), "6": ("f", 23)}


def baved_tree(root, speakers=("0", "1", "2", "3", "4")):
    """Words 0 and 1, every level; speaker 5's clips are byte copies of
    speaker 4's (as 53's of 46's in the release), speaker 6 has none, and a
    name in folder 0 gives word 2."""
    root.mkdir(parents=True, exist_ok=True)
    info = {s: {"age": age, "gender": gender} for s, (gender, age) in BAVED_SPEAKERS.items()}
    (root / "speakers_info.json").write_text(json.dumps(info, indent=4))
    record_id = 0
    for word in ("0", "1"):
        for speaker in speakers:
            gender, age = BAVED_SPEAKERS[speaker]
            for level in "012":
                record_id += 1
                path = wav(root / word / f"{speaker}-{gender}-{age}-{word}-{level}-{record_id}.wav")
                if speaker == "4":
                    copy = root / word / f"5-m-20-{word}-{level}-{record_id + 100}.wav"
                    copy.write_bytes(path.read_bytes())
    wav(root / "0" / "0-m-21-2-1-99.wav")
    return root


def test_baved(tmp_path, monkeypatch):
    mod = load("BAVED", "baved_prepare")
    root, save = baved_tree(tmp_path / "baved"), tmp_path / "save"
    mod.prepare_baved(root, save, num_folds=3, strict=False)
    data = manifest(save)
    assert_contract(data, root)
    assert len(data) == 31  # 5 speakers x 2 words x 3 levels, and the word-2 file
    assert {e["label"] for e in data.values()} == {"low", "neutral", "high"}
    entry = data["3-f-19-1-2-27"]
    assert (entry["label"], entry["speaker"], entry["gender"], entry["age"]) == ("high", "3", "female", 19)
    assert entry["text"] == mod.WORDS["1"]
    assert data["0-m-21-2-1-99"]["text"] == mod.WORDS["0"]  # the folder gives the word
    assert "5" not in {e["speaker"] for e in data.values()}  # only copies of speaker 4
    info = record(save)
    assert info["identical_copies_dropped"]["5-m-20-0-1-114"] == "4-m-20-0-1-14"
    assert len(info["identical_copies_dropped"]) == 6
    assert info["word_differs_from_folder"] == ["0-m-21-2-1-99.wav"]
    assert info["speakers_without_clips"] == ["5", "6"]
    assert len(list(fold_splits(data))) == 3  # speaker overlap refused there
    assert_idempotent(mod.prepare_baved, root, save, "2-m-22-0-0-7", num_folds=3, strict=False)
    monkeypatch.setattr(mod, "RELEASE", {"files": 37, "speakers": 6})
    monkeypatch.setattr(mod, "COPIES", 6)
    monkeypatch.setattr(mod, "SPEAKERS_LEFT", 5)
    mod.prepare_baved(root, tmp_path / "strict", num_folds=3)  # every strict check passes
    assert len(manifest(tmp_path / "strict")) == 31


def test_baved_errors(tmp_path):
    mod = load("BAVED", "baved_prepare")
    root = baved_tree(tmp_path / "baved")
    with pytest.raises(ManifestError, match="expected 1935 files, found 37"):
        mod.prepare_baved(root, tmp_path / "s1")  # strict by default: a subset is refused
    bad = {
        "0-m-21-0-3-200.wav": "emotion level 3; BAVED's levels are 0, 1, 2",
        "0-x-21-0-1-200.wav": "not a BAVED name",
        "7-m-21-0-1-200.wav": "speaker 7 is not in .*speakers_info.json",
        "1-f-30-0-1-200.wav": "the name says gender f, age 30; .*says f, 20 for speaker 1",
    }
    for name, message in bad.items():
        path = wav(root / "0" / name)
        with pytest.raises(ManifestError, match=message):
            mod.prepare_baved(root, tmp_path / "s2", num_folds=2, strict=False)
        path.unlink()
    copy = root / "1" / "0-m-21-1-2-300.wav"  # a copy of a low clip, labelled high
    copy.write_bytes((root / "0" / "0-m-21-0-0-1.wav").read_bytes())
    with pytest.raises(ManifestError, match="byte-identical copy"):
        mod.prepare_baved(root, tmp_path / "s3", num_folds=2, strict=False)
    with pytest.raises(ManifestError, match="speakers_info.json: missing file"):
        mod.prepare_baved(tmp_path / "nothing", tmp_path / "s4", strict=False)
    (tmp_path / "words").mkdir()
    (tmp_path / "words" / "speakers_info.json").write_text("{}")
    with pytest.raises(ManifestError, match="no word folders"):
        mod.prepare_baved(tmp_path / "words", tmp_path / "s5", strict=False)


def test_ased_baved_nemo_bad_inputs_are_one_line_errors(tmp_path):
    """Reproductions: ASED left out ``.WAV`` files silently (strict off);
    ``num_folds: 0`` raised ZeroDivisionError; a BAVED speakers_info.json that
    is a list or holds strings raised AttributeError; an unreadable or empty
    clip advised raising max_bad_files, an option these recipes refuse, and
    a 0-byte file was "Format not recognised"."""
    ased = load("ASED", "ased_prepare")
    root = ased_tree(tmp_path / "ASED_V1")
    upper = root / "02Fearful" / "f2-01-01-01-01.wav"
    upper.rename(upper.with_suffix(".WAV"))
    ased.prepare_ased(root, tmp_path / "a1", num_folds=3, strict=False)
    data = manifest(tmp_path / "a1")
    assert len(data) == 30 and data["f2-01-01-01-01"]["wav"].endswith("/02Fearful/f2-01-01-01-01.WAV")
    baved = load("BAVED", "baved_prepare")
    broot = baved_tree(tmp_path / "baved")
    for prepare, folder in ((ased.prepare_ased, root), (baved.prepare_baved, broot)):
        with pytest.raises(ManifestError, match="num_folds must be a whole number of at least 2, got 0"):
            prepare(folder, tmp_path / "n0", num_folds=0, strict=False)
    info = broot / "speakers_info.json"
    good = info.read_text()
    for content, found in (("[1, 2]", "found a list"), ('{"0": "m"}', "found an object holding a str")):
        info.write_text(content)
        with pytest.raises(ManifestError, match=f"speakers_info.json: expected an object of speakers.*{found}"):
            baved.prepare_baved(broot, tmp_path / "b1", num_folds=2, strict=False)
    info.write_text(good)
    (broot / "1" / "0-m-21-1-0-16.wav").write_bytes(b"")  # a 0-byte clip
    with pytest.raises(ManifestError) as error:
        baved.prepare_baved(broot, tmp_path / "b2", num_folds=2, strict=False)
    message = str(error.value)
    assert "0-m-21-1-0-16.wav: empty file (0 bytes)" in message and "max_bad_files" not in message
    assert "remove them and prepare with --prepare_options '{strict: False}'" in message
    nemo = load("nEMO", "nemo_prepare")
    nroot = nemo_tree(tmp_path / "nEMO")
    (nroot / "samples" / "EB0_anger_1.wav").write_bytes(b"RIFF not audio")
    with pytest.raises(ManifestError, match=r"EB0_anger_1.wav: not readable as audio.*Replace them"):
        nemo.prepare_nemo(nroot, tmp_path / "n1", strict=False)


# ---------------------------------------------------------------------------
# The new corpora across corpora


def test_new_corpora_in_benchmark_and_cross_corpus(tmp_path, capsys):
    """benchmark.py and cross_corpus.py find the three recipes; nEMO and ASED
    share the four cross-corpus emotions with EmoDB and URDU; BAVED (levels,
    not emotions) is refused with the reason."""
    benchmark = load_module(REPO / "recipes" / "benchmark.py", "benchmark")
    cross = load_module(REPO / "recipes" / "cross_corpus.py", "cross_corpus")
    assert {"nemo", "ased", "baved"} <= set(benchmark.available_datasets())
    assert {"nemo", "ased", "baved"} <= set(cross.available_datasets())
    load("nEMO", "nemo_prepare").prepare_nemo(nemo_tree(tmp_path / "nemo"), tmp_path / "p1", strict=False)
    load("ASED", "ased_prepare").prepare_ased(ased_tree(tmp_path / "ased"), tmp_path / "p2", strict=False)
    labels = {}
    for name, save in (("nemo", "p1"), ("ased", "p2")):
        found = sorted({e["label"] for e in manifest(tmp_path / save).values()})
        labels[name] = set(cross.map_labels(name, found).values())
    assert labels["nemo"] == {"anger", "fear", "happiness", "neutral", "sadness", "surprise"}
    assert cross.shared_labels(labels) == ["anger", "happiness", "neutral", "sadness"]
    baved_tree(tmp_path / "baved")
    with pytest.raises(SystemExit):
        cross.main(["--train", "nemo", "--test", "baved", "--encoder_source", "egemaps",
                    "--data_folder", str(tmp_path)])
    assert "baved takes no part in cross-corpus runs: its labels are levels" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# The real corpora (optional): CARE_EXTRA_DATA holds nEMO/, ASED_V1/, baved/

REAL = {  # recipe: (folder, prepare function, options, utterances, speakers, labels, facts)
    "nEMO": ("nEMO", "prepare_nemo", {}, 4481, 9, 6, {"skipped_unlisted_files": 0}),
    "ASED": ("ASED_V1", "prepare_ased", {"num_folds": 5}, 2470, 65, 5,
             {"identical_copies_dropped": 4, "gender_code_differs_from_speaker": 5}),
    "BAVED": ("baved", "prepare_baved", {"num_folds": 5}, 1908, 59, 3,
              {"identical_copies_dropped": 27, "word_differs_from_folder": 1}),
}


@pytest.mark.parametrize("recipe", sorted(REAL))
def test_real_release(recipe, tmp_path):
    """strict preparation of the real release, when ``CARE_EXTRA_DATA`` names
    the folder holding it (the corpora are never in the repository)."""
    root = os.environ.get("CARE_EXTRA_DATA")
    folder, function, options, utterances, speakers, labels, facts = REAL[recipe]
    if not root:
        pytest.skip(f"CARE_EXTRA_DATA unset (the folder holding {folder}/): real {recipe} not checked")
    if not (Path(root) / folder).is_dir():
        pytest.skip(f"{Path(root) / folder}: absent")
    module = load(recipe, function.replace("prepare_", "") + "_prepare")
    getattr(module, function)(Path(root) / folder, tmp_path, **options)
    counts = record(tmp_path)["counts"]
    assert (counts["utterances"], counts["speakers"], len(counts["labels"])) == (utterances, speakers, labels)
    assert {key: len(record(tmp_path)[key]) for key in facts} == facts
    assert len(list(fold_splits(manifest(tmp_path)))) == len(counts["folds"])


# ---------------------------------------------------------------------------
# Each recipe's train.py, end to end on its miniature corpus

RECIPES = {  # name: (tree builder, prepare options, expected test folds)
    "IEMOCAP": (iemocap_tree, "{num_classes: 4, strict: False}", [f"Session{i}" for i in range(1, 6)]),
    "MSP-Podcast": (msp_tree, "{num_classes: 8, test_set: Test1, release: null, strict: False}", ["test"]),
    "MELD": (meld_tree, "{audio_folder: audio, strict: False, max_bad_files: 1}", ["test"]),
    "CMU-MOSI": (mosi_tree, "{strict: False}", ["test"]),
    "RAVDESS": (ravdess_tree, "{num_folds: 4, strict: False}", ["fold1", "fold2", "fold3", "fold4"]),
    "CREMA-D": (cremad_tree, "{num_folds: 3, strict: False, max_bad_files: 0}", ["fold1", "fold2", "fold3"]),
    "CaFE": (cafe_tree, "{num_folds: 4, strict: False}", ["fold1", "fold2", "fold3", "fold4"]),
    "nEMO": (nemo_tree, "{strict: False}", list(NEMO_SPEAKERS)),
    "ASED": (ased_tree, "{num_folds: 3, strict: False}", ["g1", "g2", "g3"]),
    "BAVED": (baved_tree, "{num_folds: 3, strict: False}", ["g1", "g2", "g3"]),
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_end_to_end(recipe, tmp_path, tiny_wavlm, monkeypatch):
    """``python recipes/<recipe>/emotion/train.py hparams/probe.yaml`` with a
    tiny random WavLM: preparation through run_on_main, the YAML's protocol
    (MELD's check_speakers: False), probing and results."""
    monkeypatch.chdir(tmp_path)
    build, options, folds = RECIPES[recipe]
    root = build(tmp_path / "corpus")
    train = load(recipe, "train")
    results = train.main([
        "hparams/probe.yaml",  # relative to the recipe folder
        "--data_folder", str(root),
        "--encoder_source", str(tiny_wavlm),
        "--output_folder", str(tmp_path / "out"),
        "--prepare_folder", str(tmp_path / "prepared"),
        "--feature_folder", str(tmp_path / "features"),
        "--prepare_options", options,
        "--seeds", "[1]",
        "--number_of_epochs", "2",
        "--export_classifier", "False",
    ])
    assert results["dataset"] == recipe
    assert results["folds"] == folds
    assert results["utterances"] == len(manifest(tmp_path / "prepared"))
    assert 0.0 <= results["metrics"]["mean"]["weighted_f1"] <= 1.0


DIMENSIONAL = {  # name: (tree builder, prepare options, expected test folds, utterances)
    "IEMOCAP": (iemocap_tree, "{num_classes: 4, strict: False, task: dimensional}",
                [f"Session{i}" for i in range(1, 6)], 25),
    "MSP-Podcast": (msp_tree, "{test_set: Test1, release: null, strict: False, task: dimensional}",
                    ["test"], 9),
}


@pytest.mark.parametrize("recipe", sorted(DIMENSIONAL))
def test_recipe_dimensional_end_to_end(recipe, tmp_path, tiny_wavlm, monkeypatch, capsys):
    """``train.py hparams/probe.yaml --task dimensional`` on the miniature
    releases: every utterance with attributes, the official folds, CCC /
    Pearson / MAE per attribute, the epoch (mlp, IEMOCAP) or C (the default
    linear_concat, MSP-Podcast) chosen on validation mean CCC, the ridge reference; MSP-Podcast also exports a classifier that care-classify
    runs, printing the attribute values per file and window."""
    from care.cli import main as classify
    from care.probing.dimensional import ccc

    monkeypatch.chdir(tmp_path)
    build, options, folds, utterances = DIMENSIONAL[recipe]
    root = build(tmp_path / "corpus")
    export = recipe == "MSP-Podcast"
    results = load(recipe, "train").main([
        "hparams/probe.yaml",
        "--data_folder", str(root),
        "--encoder_source", str(tiny_wavlm),
        "--output_folder", str(tmp_path / "out"),
        "--prepare_folder", str(tmp_path / "prepared"),
        "--feature_folder", str(tmp_path / "features"),
        "--prepare_options", options,
        "--task", "dimensional",
        "--dimensional_loss", "mse" if recipe == "IEMOCAP" else "ccc",
        "--seeds", "[1]",
        "--number_of_epochs", "3",
        *(["--probe_head", "mlp"] if recipe == "IEMOCAP" else []),  # both training paths
        "--export_classifier", str(export),
    ])
    assert results["task"] == "dimensional" and results["dataset"] == recipe
    assert results["attributes"] == ["arousal", "valence", "dominance"]
    assert results["folds"] == folds and results["utterances"] == utterances
    mean = results["metrics"]["mean"]
    assert {"ccc_mean", "ccc_arousal", "pearson_valence", "mae_dominance"} <= set(mean)
    assert -1.0 <= mean["ccc_mean"] <= 1.0 and mean["mae_mean"] > 0
    assert results["reference"]["name"] == "ridge regression (alpha=1.0)"
    assert "| CCC |" in (tmp_path / "out" / "results.md").read_text()
    # Each run's test scores are those of its saved predictions (our formula
    # again, independently of the training code), and the epoch (or, for the
    # full-batch linear head, C) is the one of best validation CCC.
    for path in sorted((tmp_path / "out" / "save").glob("dim-*/*/seed_1/result.json")):
        run = json.loads(path.read_text())
        targets = np.array(run["outputs"]["targets"])
        predictions = np.array(run["outputs"]["predictions"])
        assert run["test"]["ccc_valence"] == pytest.approx(ccc(targets[:, 1], predictions[:, 1]))
        if run["best_epoch"] is None:  # linear_concat: C given, or chosen by cross-validation
            assert not run["cv_scores"] or run["cv_scores"][str(run["C"])] == max(run["cv_scores"].values())
            continue
        valid = [line for line in (path.parent / "train_log.txt").read_text().splitlines() if line]
        scores = [float(line.split("ccc_mean: ")[1].split(",")[0]) for line in valid]
        assert scores[run["best_epoch"] - 1] == max(scores)  # (as logged, 3 digits)
    if export:
        clip = str(root / "Audios" / "MSP-PODCAST_0004_0005.wav")
        # The recipe's default speaker normalisation: one short clip alone is refused, and labelled
        # with the training corpus's stored statistics when asked.
        classifier = str(tmp_path / "out" / "classifier")
        assert classify(["--source", classifier, clip, "--jsonl"]) == 1
        assert "--normalization_fallback corpus" in capsys.readouterr().err
        assert classify(["--source", classifier, clip, "--jsonl", "--normalization_fallback", "corpus"]) == 0
        lines = capsys.readouterr().out.splitlines()  # the recipe's log lines, then the record
        record = json.loads([line for line in lines if line.startswith('{"file"')][-1])
        assert "corpus" in record["normalization"]
        assert list(record["attributes"]) == ["arousal", "valence", "dominance"]
        assert list(record["windows"][0]["attributes"]) == ["arousal", "valence", "dominance"]
