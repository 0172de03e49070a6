"""Text targets: teachers (sentence-transformers and mean-pooled encoders),
the per-corpus embedding cache, and the Whisper transcription step (plumbing,
on a tiny randomly initialised Whisper built offline)."""

import json
import os
import shutil

import pytest
import torch
from speechbrain.dataio import audio_io

from care.processing import transcribe as tr
from care.processing.text_targets import TextTargets, TextTeacher
from care.processing.transcribe import transcribe

TEXTS = {
    "a": "Der Lappen liegt auf dem Eisschrank.",
    "b": "Printing, in the only sense with which we are at present concerned.",
    "c": None,
    "d": "   ",
    "e": "seven",
}


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return TextTeacher(minilm_path, batch_size=2)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, minilm_path):
    """A plain Hugging Face encoder (no sentence-transformers files): a tiny
    random BERT with MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = BertModel(
        BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        )
    )
    path = tmp_path_factory.mktemp("tiny_bert")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_sentence_transformers_teacher(minilm):
    assert minilm.pooling == "sentence-transformers" and minilm.dim == 384
    texts = [TEXTS["a"], TEXTS["b"], TEXTS["e"]]
    out = minilm.embed(texts)
    assert out.shape == (3, 384) and out.dtype == torch.float32
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-4)  # normalised model
    assert torch.allclose(minilm.embed(texts[2:]), out[2:], atol=1e-5)
    # different sentences, different embeddings
    assert (out[0] @ out[1]).abs() < 0.9


def test_mean_pooling_teacher(tiny_encoder):
    from transformers import AutoModel, AutoTokenizer

    teacher = TextTeacher(tiny_encoder, batch_size=2)
    assert teacher.pooling == "mean" and teacher.dim == 32  # dim from the config, not loaded
    assert teacher._model is None
    texts = [TEXTS["e"], TEXTS["b"], TEXTS["a"]]
    out = teacher.embed(texts)
    # the short text alone (no padding) equals its row in the padded batch
    model = AutoModel.from_pretrained(tiny_encoder).eval()
    tokens = AutoTokenizer.from_pretrained(tiny_encoder)([texts[0]], return_tensors="pt")
    with torch.no_grad():
        ref = model(**tokens).last_hidden_state.mean(dim=1)[0]
    assert torch.allclose(out[0], ref, atol=1e-5)
    assert torch.allclose(teacher.embed(texts[:1])[0], out[0], atol=1e-5)
    with pytest.raises(ValueError, match="pooling"):
        TextTeacher(tiny_encoder, pooling="cls")


def test_text_targets_cache(tmp_path, minilm, tiny_encoder, monkeypatch, caplog):
    cache = tmp_path / "cache"
    with caplog.at_level("INFO"):
        targets = TextTargets.build(TEXTS, minilm, cache)
    assert targets.last_stats == {"embedded": 3, "reused": 0, "missing": 2}
    assert "2 without transcript" in caplog.text
    assert targets.dim == 384 and len(targets) == 3
    assert "a" in targets and "c" not in targets and "zz" not in targets
    assert targets.get("c") is None and targets.get("d") is None
    assert torch.allclose(targets.get("a"), minilm.embed([TEXTS["a"]])[0], atol=1e-5)
    embeddings, mask = targets.stack(["c", "b", "zz"])
    assert mask.tolist() == [False, True, False]
    assert (embeddings[0] == 0).all() and torch.equal(embeddings[1], targets.get("b"))

    # reuse: a fresh build with the same teacher embeds nothing
    calls = []
    real_embed = TextTeacher.embed

    def counting_embed(self, texts):
        calls.append(list(texts))
        return real_embed(self, texts)

    monkeypatch.setattr(TextTeacher, "embed", counting_embed)
    again = TextTargets.build(TEXTS, minilm, cache)
    assert calls == [] and again.last_stats["reused"] == 3
    assert torch.equal(again.get("b"), targets.get("b"))

    # a changed transcript and a new one: only those are embedded
    changed = dict(TEXTS, e="eight", f="A new sentence.")
    updated = TextTargets.build(changed, minilm, cache)
    assert calls == [["eight", "A new sentence."]]
    assert updated.last_stats == {"embedded": 2, "reused": 2, "missing": 2}
    assert torch.equal(updated.get("a"), targets.get("a"))
    assert not torch.allclose(updated.get("e"), targets.get("e"))
    assert TextTargets.load(cache).index == updated.index

    # another teacher: everything embedded again, new size
    calls.clear()
    other = TextTargets.build(changed, TextTeacher(tiny_encoder), cache)
    assert other.dim == 32 and other.last_stats["embedded"] == 4

    # the same teacher folder with changed weights is another teacher
    copy = tmp_path / "teacher"
    shutil.copytree(tiny_encoder, copy)
    TextTargets.build(changed, TextTeacher(copy), cache)
    calls.clear()
    TextTargets.build(changed, TextTeacher(copy), cache)
    assert calls == []
    weights = copy / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    TextTargets.build(changed, TextTeacher(copy), cache)
    assert len(calls) == 1 and len(calls[0]) == 4


def test_text_targets_atomic(tmp_path, minilm, monkeypatch):
    cache = tmp_path / "cache"

    def interrupted_save(obj, path):
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        TextTargets.build(TEXTS, minilm, cache)
    assert os.listdir(cache) == []
    monkeypatch.undo()
    # a corrupt cache file (e.g. copied half) is rebuilt, not trusted
    (cache / TextTargets.FILE_NAME).write_bytes(b"garbage")
    targets = TextTargets.build(TEXTS, minilm, cache)
    assert targets.last_stats["embedded"] == 3
    assert TextTargets.load(cache).index == targets.index


# --------------------------------------------------------------------------
# Whisper transcription (plumbing only: random weights)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A randomly initialised 1-layer Whisper with a byte-level tokenizer and
    feature extractor, all built offline and saved like a hub model."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    torch.manual_seed(0)
    vocab = {char: index for index, char in enumerate(bytes_to_unicode().values())}
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[], pad_token="<|endoftext|>")
    specials = [
        "<|startoftranscript|>", "<|en|>", "<|de|>", "<|translate|>", "<|transcribe|>",
        "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>",
    ]  # fmt: skip
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    eos = tokenizer.eos_token_id
    processor = WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
    )
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        encoder_layers=1,
        decoder_layers=1,
        d_model=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_target_positions=64,
        pad_token_id=eos,
        bos_token_id=eos,
        eos_token_id=eos,
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=eos,
        pad_token_id=eos,
        bos_token_id=eos,
        max_length=12,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        lang_to_id={"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        is_multilingual=True,
    )
    path = tmp_path_factory.mktemp("tiny_whisper")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture
def wav_entries(tmp_path, clips):
    entries = {}
    for index, (clip, rate) in enumerate(zip(clips[:3], (16000, 8000, 16000))):
        import torchaudio.functional as AF

        wav = clip[:16000]
        path = tmp_path / f"utt{index}.wav"
        audio_io.save(str(path), AF.resample(wav, 16000, rate).unsqueeze(0), rate)
        entries[f"utt{index}"] = {"wav": str(path)}
    return entries


def test_transcribe_resumes(tmp_path, tiny_whisper, wav_entries, monkeypatch, caplog):
    output = tmp_path / "transcripts.json"
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not audio")
    entries = dict(wav_entries, broken={"wav": str(broken)})
    with caplog.at_level("INFO"):
        result = transcribe(
            entries, str(tiny_whisper), str(output), batch_size=2,
            language="en", local_files_only=True, save_every=2,
        )  # fmt: skip
    assert set(result) == set(wav_entries)
    assert all(isinstance(text, str) for text in result.values())
    assert json.loads(output.read_text()) == result
    assert "1 skipped" in caplog.text and "broken.wav" in caplog.text

    # resume: an id already stored is not transcribed again
    stored = json.loads(output.read_text())
    del stored["utt1"]
    output.write_text(json.dumps(stored))
    seen = []
    real_pipeline = tr.build_asr_pipeline

    def recording_pipeline(*args, **kwargs):
        asr = real_pipeline(*args, **kwargs)

        def wrapped(inputs, **call_kwargs):
            seen.append(len(inputs))
            return asr(inputs, **call_kwargs)

        return wrapped

    monkeypatch.setattr(tr, "build_asr_pipeline", recording_pipeline)
    again = transcribe(wav_entries, str(tiny_whisper), str(output), local_files_only=True)
    assert seen == [1] and set(again) == set(wav_entries)

    # complete: the model is not even loaded
    def no_pipeline(*args, **kwargs):
        raise AssertionError("model loaded")

    monkeypatch.setattr(tr, "build_asr_pipeline", no_pipeline)
    assert transcribe(wav_entries, "no/such-model", str(output)) == again


def test_transcribe_long_clip_and_detected_language(tmp_path, tiny_whisper):
    path = tmp_path / "long.wav"
    audio_io.save(str(path), 0.1 * torch.randn(1, 16000 * 33), 16000)
    output = tmp_path / "t.json"
    result = transcribe({"long": {"wav": str(path)}}, str(tiny_whisper), str(output))
    assert isinstance(result["long"], str)


def test_transcripts_file_errors(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="t.json: expected a JSON object"):
        tr.load_transcripts(str(bad))
    bad.write_text("{half")
    with pytest.raises(ValueError, match="t.json: not a JSON"):
        tr.load_transcripts(str(bad))


def test_text_targets_module_has_no_model_import():
    """Importing the processing package loads no model library."""
    import subprocess
    import sys

    code = (
        "import sys, care.processing, care.processing.text_targets, care.processing.transcribe;"
        "print('sentence_transformers' in sys.modules, 'opensmile' in sys.modules)"
    )
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["False", "False"]
