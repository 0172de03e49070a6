"""A CARE encoder as a self-contained folder: ``hyperparams.yaml`` (rebuilds
the architecture, no checkpoint download) plus ``encoder.ckpt`` (its weights),
written by :func:`save_encoder` and read by :func:`load_encoder`; and the
check that a model folder holds only what our exporters write
(:func:`check_hparams`). The classifier folder (extractor + probe) is written
and read in :mod:`care.inference`.

The folder is what the pretraining recipe exports to ``<output_folder>/encoder/``
and what probing recipes and inference take as ``encoder_source``. Load it from
Python with :func:`load_encoder`, from any SpeechBrain YAML with::

    encoder: !apply:care.lobes.load_encoder [!ref <encoder_folder>]

or through ``speechbrain.inference.interfaces.Pretrained.from_hparams(source=FOLDER)``
(its ``pretrainer`` collects ``encoder.ckpt`` from the folder).

**A folder is written whole** (:func:`care.io.atomic_folder`): into a
temporary sibling folder, then swapped in, with a ``checksums.sha256`` of its
files. Loading (:func:`load_encoder`, :func:`load_pretrained`) refuses a
folder whose files do not match it (an interrupted export, or files copied in
from another one), a loadable named or resolving outside the folder, and
weights that do not fit the model exactly (missing or unexpected keys); errors
name the file and the problem. A folder exported before checksums existed
loads with a warning: refusing it would strand encoders whose training
checkpoints are gone; export it again to add them.

**Loading a folder runs its** ``hyperparams.yaml``: HyperPyYAML can call any
Python function (``!apply:os.system [...]``). :func:`load_encoder` and
``care.inference.EmotionRecognizer`` therefore first read the file without
running it (:func:`check_hparams`) and refuse any tag, class or argument our
exporter does not write, unless told ``trust=True``. SpeechBrain's own
``Pretrained.from_hparams`` does no such check: use it only on folders you
trust (see SECURITY.md).

Example
-------
>>> import tempfile, torch
>>> from care.lobes import CAREEncoder
>>> encoder = CAREEncoder(d_model=32, num_heads=2, ffn_dim=64, num_shared_layers=1,
...     num_semantic_layers=1, num_acoustic_layers=1, text_dim=16, target_dim=8,
...     semantic_num_heads=2, semantic_ffn_dim=64, conv_channels=16, pos_conv_groups=4)
>>> folder = save_encoder(encoder, tempfile.mkdtemp(), info={"steps": 0})
>>> loaded = load_encoder(folder)
>>> wavs = torch.randn(1, 16000)
>>> _ = encoder.eval()
>>> torch.allclose(encoder(wavs).semantic, loaded(wavs).semantic)
True

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import re

import torch
import yaml
from hyperpyyaml import load_hyperpyyaml
from hyperpyyaml.core import resolve_references
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.fetching import FetchConfig, LocalStrategy, fetch
from speechbrain.utils.logger import get_logger

from care.io import (CHECKSUMS_FILE, atomic_folder, restore_folder, save_torch, verify_checksums,
                     write_text)
from care.lobes.trust import MAX_BYTES, expansion_problem, nesting_problem
from care.lobes.sources import check_source, claim_savedir
from care.recipe import dump_yaml

logger = get_logger(__name__)

HPARAMS_FILE = "hyperparams.yaml"
WEIGHTS_FILE = "encoder.ckpt"
# Constructor arguments that fetch checkpoints; an export carries its own weights.
_SOURCE_ARGS = ("speech_source", "speech_layers", "text_source", "text_layers")

# What save_encoder writes, and so what check_hparams lets through untrusted:
# the classes (!new: only) and, where restricted, their allowed arguments
# (care.inference.CLASSIFIER_CLASSES adds what save_classifier writes).
_PRETRAINER = "speechbrain.utils.parameter_transfer.Pretrainer"
ENCODER_CLASSES = {
    "care.lobes.CAREEncoder": None,  # any argument but the checkpoint sources below
    _PRETRAINER: {"loadables"},
}
_PLAIN_TAGS = {f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "seq", "map")}
_REF = re.compile(r"^<[A-Za-z_][\w.]*>$")
# A loadable is read from <folder>/<name>.ckpt: a plain name stays inside.
_LOADABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TRUST_HINT = (
    "A hyperparams.yaml can run any code when loaded; pass trust=True "
    "(care-classify --trust) only for a folder from a source you trust"
)


class UntrustedFolderError(ValueError):
    """A model folder whose ``hyperparams.yaml`` holds more than our exporter
    writes, or whose files reach outside it; loading it would run code or
    read files we cannot vouch for."""


class FolderError(ValueError):
    """A model folder file that cannot be loaded (empty, unreadable, or not
    of this model); the message names the file and the problem."""


def check_hparams(path, allowed):
    """Reads a ``hyperparams.yaml`` without running it and raises
    :class:`UntrustedFolderError` unless it holds only what the exporters
    write: plain values, ``!ref <name>`` and ``!new:`` of the ``allowed``
    classes with their allowed arguments (no ``!apply``, ``!name``,
    ``!include``, ``!!python/...``, YAML directives or checkpoint sources),
    and within the bounds of :mod:`care.lobes.trust` (size, nesting, alias
    expansion), checked before any alias is expanded.

    Arguments
    ---------
    path : str
        The file.
    allowed : dict
        Class path -> set of allowed argument names (None: any):
        :data:`ENCODER_CLASSES` or ``care.inference.CLASSIFIER_CLASSES``.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
    ...     _ = handle.write('x: !new:care.lobes.CAREEncoder\\n__y: !apply:os.system ["id"]\\n')
    >>> check_hparams(handle.name, ENCODER_CLASSES)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    care.lobes.export.UntrustedFolderError: ...yaml, line 2: !apply:os.system is not what care exports; ...
    """
    if os.path.getsize(path) > MAX_BYTES:  # bounded before reading (care.lobes.trust)
        _refuse(path, 1, f"a file over {MAX_BYTES} bytes")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    for line_number, line in enumerate(text.splitlines(), 1):
        if line.startswith("%"):
            _refuse(path, line_number, f"YAML directive {line.split()[0]}")
    try:
        problem = nesting_problem(text)
        documents = [] if problem else list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise UntrustedFolderError(f"{path}: not valid YAML ({error})") from error
    if problem:
        _refuse(path, *problem)
    if len(documents) != 1:
        _refuse(path, 1, f"{len(documents)} YAML documents")
    problem = expansion_problem(documents[0])  # before HyperPyYAML walks every alias
    if problem:
        _refuse(path, *problem)
    _check_node(path, documents[0], allowed, set())
    # What HyperPyYAML builds objects from, after its own reference pass.
    resolved = resolve_references(text).getvalue()
    _check_node(path, yaml.compose(resolved, Loader=yaml.SafeLoader), allowed, set())


def _check_node(path, node, allowed, seen):
    if id(node) in seen:
        return
    seen.add(id(node))
    line = node.start_mark.line + 1
    tag = node.tag
    arguments = None
    if tag == "!ref":
        if not (isinstance(node, yaml.ScalarNode) and _REF.match(node.value)):
            _refuse(path, line, f"!ref {node.value!r} (only !ref <name>)")
        return
    if tag.startswith("!new:"):
        name = tag[len("!new:"):]
        if name not in allowed:
            _refuse(path, line, f"{tag}")
        arguments = allowed[name]
        if name == _PRETRAINER and isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == "loadables" and isinstance(value, yaml.MappingNode):
                    check_loadable_names([k.value for k, _ in value.value], f"{path}, line {line}")
        if name == "care.lobes.CAREEncoder":
            arguments = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value in _SOURCE_ARGS and value.tag != "tag:yaml.org,2002:null":
                        _refuse(path, line, f"CAREEncoder argument {key.value} (fetches a checkpoint)")
    elif tag not in _PLAIN_TAGS:
        _refuse(path, line, tag)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag != "tag:yaml.org,2002:str":
                _refuse(path, key.start_mark.line + 1, f"mapping key {key.tag}")
            if arguments is not None and key.value not in arguments:
                _refuse(path, key.start_mark.line + 1, f"argument {key.value} of {tag}")
            _check_node(path, value, allowed, seen)
    elif isinstance(node, yaml.SequenceNode):
        if tag.startswith("!new:") and arguments is not None and node.value:
            _refuse(path, line, f"positional arguments of {tag}")
        for value in node.value:
            _check_node(path, value, allowed, seen)
    elif tag.startswith("!new:") and node.value != "":
        _refuse(path, line, f"positional argument {node.value!r} of {tag}")


def _refuse(path, line, what):
    raise UntrustedFolderError(
        f"{path}, line {line}: {what} is not what care exports; refusing to load it. {TRUST_HINT}"
    )


def encoder_yaml(encoder):
    """YAML lines (``!new:`` plus indented arguments) that rebuild the
    architecture of ``encoder`` with random weights and no checkpoint fetch."""
    encoder = getattr(encoder, "module", encoder)
    config = {k: v for k, v in encoder.config.items() if k not in _SOURCE_ARGS}
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
    config.update(freeze_frontend=True, freeze_semantic_layers=True)
    return ["!new:care.lobes.CAREEncoder"] + [
        "    " + line for line in dump_yaml(config).splitlines()
    ]


def save_encoder(encoder, folder, info=None):
    """Writes ``encoder`` (a ``CAREEncoder``, or one wrapped by DDP) to ``folder``.

    Arguments
    ---------
    encoder : CAREEncoder
        The encoder; its ``config`` gives the architecture.
    folder : str
        Created if needed; an existing export there is replaced as a whole
        (:func:`care.io.atomic_folder`).
    info : dict, optional
        Plain values recorded under an ``info`` key (e.g. training steps,
        the config it was trained with), for provenance.

    Returns
    -------
    str
        ``folder``.
    """
    encoder = getattr(encoder, "module", encoder)
    lines = [
        "# A CARE encoder exported for feature extraction and probing.",
        "# Architecture below; weights in encoder.ckpt beside this file.",
        "# Load: care.lobes.load_encoder(<this folder>), or from a YAML:",
        "#   encoder: !apply:care.lobes.load_encoder [<this folder>]",
        "",
        "encoder: " + encoder_yaml(encoder)[0],
        *encoder_yaml(encoder)[1:],
        "",
        "# For speechbrain.inference.interfaces.Pretrained.from_hparams(source=<folder>)",
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer",
        "    loadables:",
        "        encoder: !ref <encoder>",
    ]
    lines += info_lines(info)
    with atomic_folder(folder, marker=HPARAMS_FILE) as tmp:
        save_torch(cpu_state(encoder), os.path.join(tmp, WEIGHTS_FILE))
        write_text(os.path.join(tmp, HPARAMS_FILE), "\n".join(lines) + "\n")
    return folder


def load_encoder(folder, map_location="cpu", freeze=True, trust=False):
    """Rebuilds an exported encoder and loads its weights.

    The folder's ``hyperparams.yaml`` is checked first (:func:`check_hparams`):
    anything but the ``CAREEncoder`` and ``Pretrainer`` that :func:`save_encoder`
    writes is refused unless ``trust`` is True, because loading the file can
    run arbitrary code.

    Arguments
    ---------
    folder : str
        A folder written by :func:`save_encoder`.
    map_location : str or torch.device
        Where to put the weights.
    freeze : bool
        Set ``requires_grad=False`` on every parameter and ``eval()`` mode
        (what feature extraction wants).
    trust : bool
        Load a folder whose YAML holds more than :func:`save_encoder` writes
        (it may run code: only for folders from a source you trust).

    Returns
    -------
    CAREEncoder

    Raises
    ------
    UntrustedFolderError
        The YAML holds more than an export, and ``trust`` is False; or a
        file resolves outside the folder.
    FolderError, care.io.ChecksumError
        The weights do not fit the architecture, or the files do not come
        from one export.
    """
    restore_folder(folder)  # put back by a killed export
    hparams_path = os.path.join(folder, HPARAMS_FILE)
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    for path in (hparams_path, weights_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} not found: {folder} is not an exported CARE encoder "
                f"(expected {HPARAMS_FILE} and {WEIGHTS_FILE})"
            )
    if not trust:
        check_hparams(hparams_path, ENCODER_CLASSES)
    files = {HPARAMS_FILE: hparams_path, WEIGHTS_FILE: weights_path}
    check_inside(folder, files)
    check_folder_files(folder, files)
    with open(hparams_path, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle)
    encoder = hparams["encoder"]
    load_weights(encoder, weights_path)
    encoder.to(map_location)
    if freeze:
        encoder.requires_grad_(False)
        encoder.eval()
    return encoder


def check_loadable_names(names, where):
    """Raises :class:`UntrustedFolderError` for a ``pretrainer`` loadable
    whose name is not a plain identifier: it is read from
    ``<folder>/<name>.ckpt`` (and linked as ``<savedir>/<name>.ckpt``), so
    ``../x`` would reach outside the folder.

    Example
    -------
    >>> check_loadable_names(["extractor", "probe"], "f")
    >>> check_loadable_names(["../outside/probe"], "f")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    care.lobes.export.UntrustedFolderError: f: loadable '../outside/probe' is not a plain name...
    """
    for name in names:
        if not _LOADABLE_NAME.match(str(name)):
            raise UntrustedFolderError(
                f"{where}: loadable {name!r} is not a plain name (letters, digits, _): its file "
                f"{name}.ckpt would be read from outside the folder; refusing to load it"
            )


def check_inside(folder, files):
    """Raises :class:`UntrustedFolderError` unless every path of ``files``
    (``{name: path}``), links resolved, lies inside ``folder``."""
    root = os.path.realpath(folder)
    for name, path in files.items():
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise UntrustedFolderError(
                f"{folder}: {name} resolves to {real}, outside the folder; refusing to load it"
            )


def check_folder_files(folder, files, checksums=None):
    """:func:`care.io.verify_checksums` of ``files``, with a warning for a
    folder exported before checksums existed (see the module docstring)."""
    if not verify_checksums(folder, files, checksums):
        logger.warning(
            f"{folder}: no {CHECKSUMS_FILE} (exported before exports had checksums), so "
            "whether its files belong together cannot be checked; export it again to add it"
        )


def load_weights(module, path):
    """Loads the state dict in ``path`` into ``module`` strictly: raises
    :class:`FolderError` naming the file for an empty or unreadable file
    and for missing or unexpected keys or shapes that do not fit."""
    what = type(module).__name__
    if os.path.getsize(path) == 0:
        raise FolderError(f"{path}: empty file (an interrupted copy or export?), not {what} weights")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FolderError(f"{path}: not a readable PyTorch checkpoint ({reason})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FolderError(f"{path}: not a state dict of tensors ({type(state).__name__})")
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise FolderError(f"{path}: weights do not fit {what} ({error})") from None
    problems = [f"{kind} {keys[:5]}" + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
                for kind, keys in (("missing", result.missing_keys),
                                   ("unexpected", result.unexpected_keys)) if keys]
    if problems:
        raise FolderError(
            f"{path}: weights do not match {what} of hyperparams.yaml: " + "; ".join(problems)
            + " (the files come from different models)"
        )


def load_labels(encoder, path):
    """Loads a ``CategoricalEncoder`` file (``label_encoder.ckpt``); raises
    :class:`FolderError` naming the file when it is empty, unreadable or
    holds no labels."""
    if os.path.getsize(path) == 0:
        raise FolderError(f"{path}: empty file (an interrupted copy or export?), not a label list")
    try:
        encoder.load(path)
    except Exception as error:
        raise FolderError(f"{path}: not a label encoder file ({type(error).__name__}: {error})") from None
    if len(encoder) == 0:
        raise FolderError(f"{path}: holds no labels")


def load_pretrained(cls, source, allowed, hparams_file=HPARAMS_FILE, trust=False, savedir=None,
                    overrides=None, local_strategy=LocalStrategy.SYMLINK, fetch_config=None,
                    **kwargs):
    """SpeechBrain's ``pretrained_from_hparams``, checking what it loads:
    ``hparams_file`` holds only the ``allowed`` classes (unless ``trust``;
    :func:`check_hparams`), loadable names stay inside the folder, every
    file matches the folder's checksums, and weights and labels are loaded
    strictly, errors naming the file (:func:`load_weights`,
    :func:`load_labels`).

    Arguments
    ---------
    cls : type
        A ``speechbrain.inference.interfaces.Pretrained`` subclass.
    source : str
        A folder or a hub id.
    allowed : dict
        See :func:`check_hparams`.
    hparams_file, savedir, overrides, local_strategy, fetch_config, **kwargs
        As ``Pretrained.from_hparams``.
    trust : bool
        Skip :func:`check_hparams` (the file may then run any code).

    Returns
    -------
    cls instance
    """
    check_source(source)  # a missing folder named as such, a killed export's folder put back
    claim_savedir(savedir, source, hparams_file)  # never another model's collected files
    options = {"savedir": savedir, "local_strategy": local_strategy,
               "fetch_config": fetch_config or FetchConfig()}
    hparams_path = str(fetch(filename=hparams_file, source=source, **options))
    if not trust:
        check_hparams(hparams_path, allowed)
    local = isinstance(source, (str, os.PathLike)) and os.path.isdir(source)
    checksums = os.path.join(source, CHECKSUMS_FILE) if local else _fetch_optional(CHECKSUMS_FILE, source, options)
    checksums = checksums if checksums and os.path.isfile(checksums) else None
    files = {hparams_file: hparams_path}
    check_folder_files(str(source), files, checksums)
    with open(hparams_path, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides or {})
    hparams["savedir"] = savedir
    pretrainer = hparams["pretrainer"]
    check_loadable_names(pretrainer.loadables, str(source))
    pretrainer.set_collect_in(savedir)
    pretrainer.collect_files(default_source=source, local_strategy=local_strategy,
                             fetch_config=options["fetch_config"])
    files.update({f"{name}.ckpt": pretrainer.paths[name] for name in pretrainer.loadables})
    if local:
        check_inside(source, files)
    if checksums:
        verify_checksums(str(source), files, checksums)
    pretrainer.add_custom_hooks({
        name: load_labels if isinstance(obj, CategoricalEncoder) else load_weights
        for name, obj in pretrainer.loadables.items()
        if isinstance(obj, (CategoricalEncoder, torch.nn.Module))
    })
    pretrainer.load_collected()
    return cls(modules=hparams["modules"], hparams=hparams, **kwargs)


def _fetch_optional(filename, source, options):
    """``fetch``'s local path of ``filename`` of a hub ``source``, or None
    when it cannot be had (a model exported before the file existed)."""
    try:
        return str(fetch(filename=filename, source=source, **options))
    except Exception as error:  # the hub's "not found" errors have no common type
        logger.debug(f"{source}: no {filename} ({error})")
        return None


def cpu_state(module):
    """``module``'s state dict, detached, on the CPU (what an export saves)."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def info_lines(info):
    """The ``info:`` block (provenance) of an exported ``hyperparams.yaml``."""
    if not info:
        return []
    return ["", "info:"] + ["    " + line for line in dump_yaml(info).splitlines()]
