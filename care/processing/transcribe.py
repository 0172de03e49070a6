"""Transcripts for corpora without them, from a Whisper model through the
``transformers`` automatic-speech-recognition pipeline.

Run once per corpus (on the main process) and store the result beside the
manifest; a rerun skips the utterances already transcribed, so an interrupted
run resumes. The authors' code reads Whisper transcripts (its ``config.py``;
which Whisper model is not in the code); for example Whisper-large-v3::

    from care.processing.transcribe import transcribe
    transcripts = transcribe(
        entries,                       # utt_id -> {"wav": path, ...}
        "openai/whisper-large-v3",     # hub id or local folder
        "<data_folder>/transcripts.json",
        batch_size=16,
        device="cuda",                 # float16 on CUDA
        language=None,                 # None: detected per utterance; or "en", "de", ...
    )

Clips longer than 30 s are transcribed in 30 s chunks. Files that cannot be
read are skipped, counted in one log line, and retried on the next run.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os

import torch
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.io import write_json
from care.processing.audio import SAMPLE_RATE, AudioError, load_audio

logger = get_logger(__name__)


def load_transcripts(output_file):
    """The transcripts stored in ``output_file`` (``{}`` when absent)."""
    if not os.path.isfile(output_file):
        return {}
    with open(output_file, encoding="utf-8") as handle:
        try:
            stored = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{output_file}: not a JSON transcript file ({error})") from error
    if not isinstance(stored, dict):
        raise ValueError(f"{output_file}: expected a JSON object id -> text")
    return stored


def build_asr_pipeline(model_source, device="cpu", local_files_only=False):
    """The ``transformers`` ASR pipeline of a Whisper model (hub id or folder);
    float16 on CUDA."""
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline

    dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
    model = AutoModelForSpeechSeq2Seq.from_pretrained(
        model_source, local_files_only=local_files_only, dtype=dtype
    )
    processor = AutoProcessor.from_pretrained(model_source, local_files_only=local_files_only)
    tokenizer = processor.tokenizer
    if tokenizer.pad_token_id is None:  # batching needs one
        tokenizer.pad_token = tokenizer.eos_token
    return pipeline(
        "automatic-speech-recognition",
        model=model,
        tokenizer=tokenizer,
        feature_extractor=processor.feature_extractor,
        device=device,
        dtype=dtype,
    )


def transcribe(
    entries,
    model_source,
    output_file,
    batch_size=8,
    device="cpu",
    language=None,
    local_files_only=False,
    save_every=256,
):
    """Transcribes every entry not yet in ``output_file``.

    Arguments
    ---------
    entries : dict
        ``utt_id -> {"wav": path, ...}``.
    model_source : str
        Whisper model: hub id (e.g. ``openai/whisper-large-v3``) or folder.
    output_file : str
        JSON ``utt_id -> text``, written atomically after every
        ``save_every`` utterances (beside the manifest).
    batch_size : int
        Clips per forward pass.
    device : str
        Where Whisper runs.
    language : str, optional
        Force a language (``"en"``); None lets Whisper detect it.
    local_files_only : bool
        Never reach the model hub.
    save_every : int
        Utterances between two writes of ``output_file``.

    Returns
    -------
    dict
        ``utt_id -> text`` for the entries transcribed (now or before);
        unreadable files are absent.
    """
    done = load_transcripts(output_file)
    todo = [utt_id for utt_id in entries if utt_id not in done]
    failed = {}
    if todo:
        asr = build_asr_pipeline(model_source, device, local_files_only)
        generate_kwargs = {"task": "transcribe"}
        if language is not None:
            generate_kwargs["language"] = language
        progress = tqdm(total=len(todo), desc="transcribing", dynamic_ncols=True)
        for begin in range(0, len(todo), save_every):
            chunk, inputs = [], []
            for utt_id in todo[begin : begin + save_every]:
                path = entries[utt_id]["wav"]
                try:
                    audio = load_audio(path).numpy()
                except AudioError as error:
                    failed[utt_id] = str(error)
                    continue
                chunk.append(utt_id)
                inputs.append({"raw": audio, "sampling_rate": SAMPLE_RATE})
            if inputs:
                outputs = asr(
                    inputs,
                    batch_size=batch_size,
                    chunk_length_s=30,
                    generate_kwargs=generate_kwargs,
                )
                for utt_id, output in zip(chunk, outputs):
                    done[utt_id] = output["text"].strip()
                write_json(output_file, done)
            progress.update(len(todo[begin : begin + save_every]))
        progress.close()
    message = (
        f"transcripts in {output_file}: {len(entries)} utterances, "
        f"{len(todo) - len(failed)} transcribed now, {len(entries) - len(todo)} before, "
        f"{len(failed)} skipped"
    )
    if failed:
        logger.warning(message + " (e.g. " + "; ".join(list(failed.values())[:3]) + ")")
    else:
        logger.info(message)
    return {utt_id: done[utt_id] for utt_id in entries if utt_id in done}
