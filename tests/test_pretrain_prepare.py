"""Pretraining data preparation: corpus layouts, skips, exclusions, the
speaker-held-out validation split and idempotence."""

import json
import os
import sys
from pathlib import Path

import pytest
import torch
from speechbrain.dataio import audio_io

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "recipes" / "Pretrain"))
from pretrain_prepare import prepare_pretraining  # noqa: E402

from care.recipe import InputError  # noqa: E402
from conftest import deny_folder, kill_at_write  # noqa: E402


def tone(path, seconds=0.5, rate=16000, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = torch.arange(int(seconds * rate)) / rate
    wave = 0.1 * torch.sin(2 * torch.pi * 220 * t)
    audio_io.save(str(path), wave.repeat(channels, 1), rate)


@pytest.fixture
def corpora(tmp_path):
    """One small tree with every recognised layout, plus bad files."""
    root = tmp_path / "data"
    libri = root / "LibriSpeech" / "dev-clean"
    for speaker in ("19", "26", "32"):
        chapter = libri / speaker / "100"
        lines = []
        for n in range(2):
            utt = f"{speaker}-100-{n:04d}"
            tone(chapter / f"{utt}.flac")
            lines.append(f"{utt} HELLO NUMBER {n}")
        (chapter / f"{speaker}-100.trans.txt").write_text("\n".join(lines) + "\n")
    lj = root / "LJSpeech-1.1"
    for n in range(3):
        tone(lj / "wavs" / f"LJ001-000{n}.wav", rate=22050)
    (lj / "metadata.csv").write_text(
        "LJ001-0000|Raw 1.|Normalised one.\nLJ001-0001|Raw two.|\nLJ001-0002|x|three\n"
    )
    for name in ("03a01Fa.wav", "08b02Wb.wav", "10a04Nc.wav"):
        tone(root / "emodb" / "wav" / name, rate=22050)
    for name in ("Angry/SM1_F01_A01.flac", "Sad/SF2_F03_S02.flac", "Happy/SM3_F01_H01.flac"):
        tone(root / "urdu" / name, rate=44100, channels=2)
    for name in ("0_george_0.wav", "7_jackson_1.wav", "3_lucas_2.wav"):
        tone(root / "fsdd" / "recordings" / name, seconds=0.3, rate=8000)
    msp = root / "MSP-PODCAST"
    for n in range(2):
        tone(msp / "Audios" / f"MSP-PODCAST_0001_000{n}.wav")
        (msp / "Transcripts").mkdir(parents=True, exist_ok=True)
        (msp / "Transcripts" / f"MSP-PODCAST_0001_000{n}.txt").write_text(f"podcast words {n}\n")
    (msp / "Labels").mkdir()
    (msp / "Labels" / "labels_consensus.csv").write_text(
        "FileName,EmoClass,SpkrID,Split_Set\n"
        "MSP-PODCAST_0001_0000.wav,N,127,Train\nMSP-PODCAST_0001_0001.wav,A,Unknown,Train\n"
    )
    other = root / "my_corpus"
    tone(other / "a.wav")
    (other / "a.txt").write_text("sidecar text\n")
    tone(other / "sub" / "b.wav")
    tone(other / "sub" / "c.ogg")
    (other / "sub" / "transcripts.csv").write_text("file,text,speaker\nb.wav,from csv,spk1\n")
    (other / "broken.wav").write_bytes(b"RIFF not really audio")
    tone(other / "empty.wav", seconds=0.0)  # a valid header, no samples
    (other / "zero_bytes.wav").write_bytes(b"")
    tone(other / "tiny.wav", seconds=0.02)
    return root


def test_recognises_every_layout(corpora, tmp_path):
    out = tmp_path / "out"
    info = prepare_pretraining(str(corpora), str(out), valid_ratio=0.0, min_duration=0.1)
    train = json.loads((out / "train.json").read_text())
    assert info["corpora"] == {
        "audio": 3, "emodb": 3, "fsdd": 3, "librispeech": 6, "ljspeech": 3, "msp-podcast": 2, "urdu": 3
    }
    assert info["counts"]["skipped"] == 4
    assert sorted(info["skipped"]) == ["empty", "too short", "unreadable"]
    assert len(info["skipped"]["unreadable"]) == 2
    assert "my_corpus/broken.wav" in info["skipped"]["unreadable"][0]
    libri = train["LibriSpeech/dev-clean/19/100/19-100-0001"]
    assert libri["speaker"] == "librispeech/19" and libri["text"] == "hello number 1"
    assert libri["wav"] == "{data_root}/LibriSpeech/dev-clean/19/100/19-100-0001.flac"
    assert train["LJSpeech-1.1/wavs/LJ001-0000"]["text"] == "Normalised one."
    assert train["LJSpeech-1.1/wavs/LJ001-0001"]["text"] == "Raw two."
    assert train["emodb/wav/08b02Wb"]["text"].startswith("Sie haben es gerade")
    assert train["emodb/wav/08b02Wb"]["speaker"] == "emodb/08"
    assert train["urdu/Sad/SF2_F03_S02"] == {
        "wav": "{data_root}/urdu/Sad/SF2_F03_S02.flac", "duration": 0.5,
        "speaker": "urdu/F2", "corpus": "urdu", "text": None,
    }
    assert train["fsdd/recordings/7_jackson_1"]["text"] == "seven"
    assert train["MSP-PODCAST/Audios/MSP-PODCAST_0001_0000"]["speaker"] == "msp-podcast/127"
    assert train["MSP-PODCAST/Audios/MSP-PODCAST_0001_0001"]["speaker"] is None
    assert train["MSP-PODCAST/Audios/MSP-PODCAST_0001_0001"]["text"] == "podcast words 1"
    assert train["my_corpus/a"]["text"] == "sidecar text"
    assert train["my_corpus/sub/b"]["text"] == "from csv"
    assert train["my_corpus/sub/b"]["speaker"] == "audio/spk1"
    assert train["my_corpus/sub/c"]["text"] is None
    assert info["counts"]["with_text"] == 19


def test_exclude_speakers_files_and_lists(corpora, tmp_path):
    listing = tmp_path / "test_speakers.txt"
    listing.write_text("# probing test speakers\nurdu/M1\nurdu/M3\n")
    info = prepare_pretraining(
        str(corpora), str(tmp_path / "out"), valid_ratio=0.0,
        exclude=["emodb/*", "librispeech/26", "LJ001-0002.wav", f"@{listing}"],
    )
    train = json.loads((tmp_path / "out" / "train.json").read_text())
    assert not [k for k in train if "emodb" in k]
    assert not [k for k in train if "/26/" in k or "LJ001-0002" in k]
    assert [k for k in train if k.startswith("urdu/")] == ["urdu/Sad/SF2_F03_S02"]
    assert info["counts"]["excluded"] == 3 + 2 + 1 + 2
    assert "emodb/wav/03a01Fa" in info["excluded"]
    assert info["options"]["exclude"][-2:] == ["urdu/M1", "urdu/M3"]


def test_valid_split_holds_out_speakers(corpora, tmp_path):
    out = tmp_path / "out"
    info = prepare_pretraining(str(corpora), str(out), valid_ratio=0.3, seed=3)
    train = json.loads((out / "train.json").read_text())
    valid = json.loads((out / "valid.json").read_text())
    assert not set(train) & set(valid)
    for corpus in ("librispeech", "emodb", "urdu", "fsdd"):
        assert info["valid_split"][corpus]["by"] == "speaker"
        held = set(info["valid_split"][corpus]["speakers"])
        assert held and held <= {e["speaker"] for e in valid.values()}
        assert not held & {e["speaker"] for e in train.values()}
    assert info["valid_split"]["ljspeech"]["by"] == "utterance"  # one speaker


def test_idempotent_and_reruns_on_change(corpora, tmp_path, caplog):
    out = tmp_path / "out"
    prepare_pretraining(str(corpora), str(out))
    first = (out / "train.json").stat().st_mtime_ns
    with caplog.at_level("INFO"):
        prepare_pretraining(str(corpora), str(out))
    assert "up to date" in caplog.text
    assert (out / "train.json").stat().st_mtime_ns == first
    tone(corpora / "my_corpus" / "new.wav")
    info = prepare_pretraining(str(corpora), str(out))
    assert "my_corpus/new" in {**json.loads((out / "train.json").read_text()),
                               **json.loads((out / "valid.json").read_text())}
    info = prepare_pretraining(str(corpora), str(out), exclude=["my_corpus/new"])
    assert info["counts"]["excluded"] == 1


def test_clear_errors(tmp_path):
    """Every mistake in the data is an InputError (one line from train.py,
    no traceback), naming the folder or file: reproductions of a missing
    data folder, a missing ``@FILE`` of exclude patterns (FileNotFoundError
    tracebacks)."""
    with pytest.raises(InputError, match="nowhere does not exist"):
        prepare_pretraining(str(tmp_path / "nowhere"), str(tmp_path / "out"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no audio files"):
        prepare_pretraining(str(tmp_path / "empty"), str(tmp_path / "out"))
    bad = tmp_path / "bad"
    tone(bad / "x.wav")
    (bad / "transcripts.csv").write_text("name,words\nx.wav,hi\n")
    with pytest.raises(InputError, match="transcripts.csv: needs columns 'file' and 'text'"):
        prepare_pretraining(str(bad), str(tmp_path / "out"))
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(InputError, match=f"cannot read the pattern file {missing} .No such file"):
        prepare_pretraining(str(tmp_path / "empty"), str(tmp_path / "out"), exclude=["@" + missing])


# --- interrupted writes and awkward trees ----------------------------------------


def manifests(out):
    return [json.loads((out / f"{s}.json").read_text()) for s in ("train", "valid")]


def test_prepare_interrupted_between_manifests_atomic(corpora, tmp_path, monkeypatch):
    """Reproduction: a kill between writing train.json and valid.json left a
    new train.json beside the old valid.json (and a temp file); a later run
    with the previous options took the pair as up to date, with utterances in
    both. Now prepare.json (removed first, written last) holds both manifests'
    hashes, and stale temp files are removed."""
    import pretrain_prepare

    out = tmp_path / "out"
    prepare_pretraining(str(corpora), str(out), valid_ratio=0.3, seed=1)
    kill_at_write(monkeypatch, pretrain_prepare, "valid.json", out / ".valid.json.abc123.tmp")
    with pytest.raises(KeyboardInterrupt):
        prepare_pretraining(str(corpora), str(out), valid_ratio=0.3, seed=2)
    monkeypatch.undo()
    train, valid = manifests(out)
    assert set(train) & set(valid)  # the torn state on disk...
    info = prepare_pretraining(str(corpora), str(out), valid_ratio=0.3, seed=1)
    train, valid = manifests(out)
    assert not set(train) & set(valid)  # ...is never taken as up to date
    assert info["counts"]["train"] == len(train) and info["counts"]["valid"] == len(valid)
    assert not list(out.glob("*.tmp"))
    # A manifest edited since it was written is prepared again, too.
    (out / "valid.json").write_text("{}\n")
    prepare_pretraining(str(corpora), str(out), valid_ratio=0.3, seed=1)
    assert manifests(out)[1] == valid


def test_duplicate_stems_refused_naming_both(corpora, tmp_path):
    """Reproduction: a.wav next to a.flac silently dropped one of them."""
    tone(corpora / "my_corpus" / "a.flac")
    with pytest.raises(InputError, match=r"my_corpus/a.flac and .*my_corpus/a.wav: two files"):
        prepare_pretraining(str(corpora), str(tmp_path / "out"))


def test_untrusted_corpus_tree_links_encodings_and_folders(corpora, tmp_path, monkeypatch):
    """Reproductions: a dangling symlink gave a traceback from the
    fingerprint; a Latin-1 transcript a UnicodeDecodeError without the file
    name; a folder that could not be read was skipped with 'skipped: 0'."""
    os.symlink(corpora / "gone.wav", corpora / "my_corpus" / "dangling.wav")
    os.symlink(corpora / "loop_b.wav", corpora / "loop_a.wav")
    os.symlink(corpora / "loop_a.wav", corpora / "loop_b.wav")
    locked = str(corpora / "LJSpeech-1.1" / "wavs")
    deny_folder(monkeypatch, locked)
    info = prepare_pretraining(str(corpora), str(tmp_path / "out"), valid_ratio=0.0)
    assert info["skipped"]["unreadable folder"] == [f"{locked} (Permission denied)"]
    assert "ljspeech" not in info["corpora"]
    unreadable = " ".join(info["skipped"]["unreadable"])
    assert "my_corpus/dangling.wav" in unreadable and "loop_a.wav" in unreadable
    monkeypatch.undo()

    (corpora / "my_corpus" / "a.txt").write_bytes("Colère, déjà vu\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"my_corpus/a.txt, line 1: not UTF-8.*iconv"):
        prepare_pretraining(str(corpora), str(tmp_path / "out"))


UNKNOWN_HASH = "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
SPEAKER_HASH = "3d9d3e0eb86e940eb4b15e5b1fe903aa01080f176dffc7547c677ce3"


def test_keyword_and_hindi_corpora_and_a_pool_of_links(tmp_path):
    """The Indian EmoSpeech Command names (keyword as text, background clips
    skipped and counted, the unknown-speaker hash), the Hindi corpus (both
    transcript files, gender field optional), and a pool folder whose corpora
    are symbolic links (a link cycle is walked once)."""
    corpora = tmp_path / "corpora"
    emo = corpora / "emospeech-dataset-v1"
    names = {
        "House/help-safe-fearful-1562907046662-" + SPEAKER_HASH: "help",
        "Metro/unknown-safe-calm-1561964985.764769-" + UNKNOWN_HASH: None,
        "Misc/bacho-glass break-angry-??-" + SPEAKER_HASH: "bacho",
        "House/background-safe-None-20190701193438-" + UNKNOWN_HASH: "skipped",
    }
    for name in names:
        tone(emo / f"{name}.wav")
    hindi = corpora / "Hindi-Speech-Corpus" / "corpus"
    for utt in ("00A001", "00A002", "00D024", "00D030"):
        tone(hindi / "data" / utt[:3] / f"{utt}.wav", rate=44100, channels=2)
    (hindi / "text.txt").write_text("00A001 M पहला  वाक्य\n00D024 M दूसरा वाक्य\n", encoding="utf-8")
    (hindi / "speaker_to_gender.txt").write_text("00A M\n00D F/M\n")
    (hindi / "data" / "00A" / "text.txt").write_text("00A002 तीसरा वाक्य\n00A001 replaced by the corpus file\n")
    (hindi / "data" / "00D" / "text.txt").write_text("00D030 F चौथा वाक्य।\n")
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "emospeech").symlink_to(emo, target_is_directory=True)
    (pool / "hindi").symlink_to(corpora / "Hindi-Speech-Corpus", target_is_directory=True)
    (emo / "House" / "loop").symlink_to(pool, target_is_directory=True)  # a cycle

    info = prepare_pretraining(str(pool), str(tmp_path / "out"), valid_ratio=0.0)
    entries = json.loads((tmp_path / "out" / "train.json").read_text(encoding="utf-8"))
    assert info["corpora"] == {"emospeech": 3, "hindi": 4}
    assert info["skipped"] == {"no speech": [f"emospeech/House/background-safe-None-20190701193438-{UNKNOWN_HASH}.wav"]}
    by_name = {os.path.basename(k): e for k, e in entries.items()}
    help_entry = by_name[f"help-safe-fearful-1562907046662-{SPEAKER_HASH}"]
    assert (help_entry["speaker"], help_entry["text"]) == (f"emospeech/{SPEAKER_HASH[:12]}", "help")
    assert help_entry["wav"].startswith("{data_root}/emospeech/House/")
    unknown = by_name[f"unknown-safe-calm-1561964985.764769-{UNKNOWN_HASH}"]
    assert (unknown["speaker"], unknown["text"]) == (None, None)
    assert by_name[f"bacho-glass break-angry-??-{SPEAKER_HASH}"]["text"] == "bacho"
    texts = {k: by_name[k]["text"] for k in ("00A001", "00A002", "00D024", "00D030")}
    assert texts == {"00A001": "पहला वाक्य", "00A002": "तीसरा वाक्य", "00D024": "दूसरा वाक्य", "00D030": "चौथा वाक्य।"}
    assert by_name["00D024"]["speaker"] == "hindi/00D"
    assert not any("loop" in k for k in entries)


def test_hindi_transcript_without_text_names_the_line(tmp_path):
    hindi = tmp_path / "data" / "hindi" / "corpus"
    tone(hindi / "data" / "00A" / "00A001.wav")
    (hindi / "text.txt").write_text("00A001 M\n")
    (hindi / "speaker_to_gender.txt").write_text("00A M\n")
    with pytest.raises(InputError, match=r"text.txt:1: expected '<id> \[gender\] <text>'"):
        prepare_pretraining(str(tmp_path / "data"), str(tmp_path / "out"))


def test_exclusion_matches_every_name_of_a_linked_folder(tmp_path, caplog):
    """Reproduction: with ``all -> mydata`` and ``myeval -> mydata/myeval``
    in a pool, ``myeval`` was walked once as ``all/myeval``; ``exclude:
    ["myeval/*"]`` matched nothing (a warning) and the evaluation clips were
    pretrained on. Patterns now match every name a folder is reachable by."""
    data = tmp_path / "mydata"
    for k in range(2):
        tone(data / "myeval" / f"e{k}.wav")
        tone(data / "other" / f"o{k}.wav")
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "all").symlink_to(data, target_is_directory=True)
    (pool / "myeval").symlink_to(data / "myeval", target_is_directory=True)
    out = tmp_path / "out"
    info = prepare_pretraining(str(pool), str(out), exclude=["myeval/*"], valid_ratio=0.0)
    assert sorted(manifests(out)[0]) == ["all/other/o0", "all/other/o1"]
    assert info["excluded"] == ["all/myeval/e0", "all/myeval/e1"]
    assert "matched nothing" not in caplog.text


def test_everything_excluded_says_so_naming_the_patterns(tmp_path):
    """Reproduction: excluding every file (here through the second name of a
    corpus linked twice) gave "no usable audio under ... (skipped: )" as a
    ValueError traceback."""
    for k in range(2):
        tone(tmp_path / "corpora" / "fsdd" / f"{k}_george_0.wav")
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "a_fsdd").symlink_to(tmp_path / "corpora" / "fsdd", target_is_directory=True)
    (pool / "fsdd").symlink_to(tmp_path / "corpora" / "fsdd", target_is_directory=True)
    with pytest.raises(InputError, match=r"every one of the 2 audio files under .*pool is excluded "
                                         r"by the exclude patterns fsdd/\*; nothing is left"):
        prepare_pretraining(str(pool), str(tmp_path / "out"), exclude=["fsdd/*", "nothing/*"])


def test_file_name_not_utf8_is_skipped_and_named(tmp_path, caplog):
    """Reproduction: a file named ``caf\\xe9.wav`` (Latin-1 bytes) crashed the
    preparation with a UnicodeEncodeError while writing train.json, naming no
    file. It is skipped, counted in prepare.json and named in a warning."""
    data = tmp_path / "data"
    tone(data / "fsdd" / "0_george_0.wav")
    tone(data / "fsdd" / "1_george_0.wav")
    os.rename(data / "fsdd" / "1_george_0.wav", os.path.join(bytes(data), b"fsdd/caf\xe9.wav"))
    out = tmp_path / "out"
    info = prepare_pretraining(str(data), str(out), valid_ratio=0.0)
    assert list(manifests(out)[0]) == ["fsdd/0_george_0"]
    assert info["skipped"] == {"file name not UTF-8": [repr(b"fsdd/caf\xe9.wav")]}
    assert "whose name is not UTF-8" in caplog.text and r"caf\xe9.wav" in caplog.text
    again = prepare_pretraining(str(data), str(out), valid_ratio=0.0)  # up to date: skipped
    assert again == info
