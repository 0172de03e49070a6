"""What every recipe's ``train.py`` does first: parse SpeechBrain's command
line, find the hparams file, load it with the overrides; and how a recipe
reports a user's mistake (:class:`InputError`, :func:`user_errors`).

The hparams path may be given relative to the current directory or to the
recipe folder, so both work from the repository root::

    python recipes/Pretrain/train.py hparams/care_small.yaml --data_folder DIR
    cd recipes/Pretrain && python train.py hparams/care_small.yaml --data_folder DIR

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import shlex
import sys
from pathlib import Path

import ruamel.yaml
import speechbrain as sb
import yaml
from hyperpyyaml import load_hyperpyyaml


class InputError(ValueError):
    """A mistake in what the user gave (data, an option, a file), not a bug.
    Every such error of the recipes is one (``ManifestError``,
    ``AudioError``, a bad override); run from the command line, a recipe
    reports it as one line, without a traceback (:func:`user_errors`)."""


@contextlib.contextmanager
def user_errors():
    """Runs a recipe's body so that an :class:`InputError` reaching the top
    level prints ``<script>: error: <message>`` and exits with status 1,
    without a traceback; any other exception (a bug) keeps its traceback.
    A caller that catches the error (a test, another script) gets it as is.

    The report is installed as ``sys.excepthook`` when the error passes
    through, after SpeechBrain's own hook (which logs every exception with its
    traceback), so that it is the one Python calls.
    """
    try:
        yield
    except InputError:
        if not isinstance(sys.excepthook, _UserErrorHook):
            sys.excepthook = _UserErrorHook(sys.excepthook)
        raise


class _UserErrorHook:
    """``sys.excepthook``: one line for an :class:`InputError`, the previous
    hook (a traceback) for anything else."""

    def __init__(self, previous):
        self.previous = previous

    def __call__(self, exc_type, value, traceback):
        if issubclass(exc_type, InputError):
            sys.stderr.write(f"{os.path.basename(sys.argv[0] or 'care')}: error: {value}\n")
        else:
            self.previous(exc_type, value, traceback)


def check_overrides(overrides):
    """Raises :class:`InputError` for command-line overrides that would
    silently mean something else: a key given twice (``--num_folds 3
    --num_folds 4``), or a mapping key holding a colon (``{strict:False}``
    is the one key ``strict:False``: YAML needs a space after the colon).

    Example
    -------
    >>> check_overrides("prepare_options: {strict: false, num_folds: 3}")
    >>> check_overrides("prepare_options: {strict:False}")
    Traceback (most recent call last):
        ...
    care.recipe.InputError: --prepare_options: {strict:False} reads as the one key 'strict:False'; write a space after the colon ({strict: False})
    """
    try:
        node = yaml.compose(overrides or "", Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise InputError(f"the command-line overrides are not valid YAML: {error}") from None
    _check_override_node(node, None)


def _check_override_node(node, option):
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_override_node(item, option)
    if not isinstance(node, yaml.MappingNode):
        return
    seen = set()
    for key, value in node.value:
        name = str(key.value)
        where = f"--{name}" if option is None else f"--{option}: key {name!r}"
        if name in seen:
            raise InputError(f"{where} given more than once; give each option once")
        seen.add(name)
        if ":" in name and value.tag.endswith(":null"):
            first, _, second = name.partition(":")
            raise InputError(
                f"--{option}: {{{name}}} reads as the one key {name!r}; write a space after the "
                f"colon ({{{first}: {second}}})"
            )
        _check_override_node(value, name if option is None else option)


class HparamsNotFoundError(InputError, FileNotFoundError):
    """The hparams file given on the command line does not exist."""


def resolve_hparams_path(path, recipe_folder):
    """Returns ``path`` if it exists, else ``recipe_folder/path``; raises
    ``FileNotFoundError`` naming both places otherwise.

    Example
    -------
    >>> import care, os
    >>> folder = os.path.dirname(care.__file__)
    >>> resolve_hparams_path("__init__.py", folder) == os.path.join(folder, "__init__.py")
    True
    """
    if os.path.isfile(path):
        return path
    candidate = os.path.join(recipe_folder, path)
    if os.path.isfile(candidate):
        return candidate
    raise HparamsNotFoundError(
        f"hparams file {path!r} not found (looked in {os.getcwd()} and {recipe_folder})"
    )


def load_recipe(recipe_folder, argv=None):
    """Parses ``argv`` (default ``sys.argv[1:]``) like SpeechBrain recipes do
    and loads the hparams.

    Arguments
    ---------
    recipe_folder : str
        The recipe's folder (where a relative hparams path is also looked
        for), e.g. ``os.path.dirname(os.path.abspath(__file__))``.
    argv : list of str, optional
        Command-line arguments.

    Returns
    -------
    hparams_file : str
        The resolved hparams path.
    run_opts : speechbrain.utils.run_opts.RunOptions
        SpeechBrain run options (``--device``, ``--precision``, ...).
    overrides : str
        The YAML overrides from the command line.
    hparams : dict
        The loaded hyperparameters.
    """
    with user_errors():
        return _load_recipe(recipe_folder, sys.argv[1:] if argv is None else argv)


def boolean_flags(argv):
    """``argv`` with SpeechBrain's on/off run options written as a value
    turned into the bare flag: ``--noprogressbar True`` -> ``--noprogressbar``,
    ``--noprogressbar False`` (or ``=False``) -> nothing. SpeechBrain parses
    them as flags, so a following ``True`` would otherwise be glued onto the
    previous option's value (``--output_folder X --noprogressbar True`` wrote to
    "X True").

    Example
    -------
    >>> boolean_flags(["h.yaml", "--output_folder", "X", "--noprogressbar", "True", "--debug=false"])
    ['h.yaml', '--output_folder', 'X', '--noprogressbar']
    """
    from speechbrain.utils.run_opts import RunOptions

    flags = {f"--{name}" for name, default in RunOptions().as_dict().items() if default is False}
    out, i = [], 0
    while i < len(argv):
        arg, value = argv[i], None
        name, equals, given = arg.partition("=")
        if name in flags and equals:
            value = given
        elif arg in flags and i + 1 < len(argv) and not argv[i + 1].startswith("--") \
                and not argv[i + 1].endswith((".yaml", ".yml")):  # (the hparams file may follow a flag)
            value, i = argv[i + 1], i + 1  # a flag's value, else glued onto the previous option
        if value is None:
            out.append(arg)
        elif value.lower() == "true":
            out.append(name)
        elif value.lower() != "false":
            raise InputError(f"{name} is a flag: give it alone (or {name} True / False), not {value!r}")
        i += 1
    return out


def _load_recipe(recipe_folder, argv):
    argv = boolean_flags(list(argv))
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    check_overrides(overrides)
    # SpeechBrain 1.1.2 parses options whose default is None as strings.
    if isinstance(getattr(run_opts, "optimizer_step_limit", None), str):
        run_opts = dataclasses.replace(
            run_opts, optimizer_step_limit=int(run_opts.optimizer_step_limit)
        )
    # Joins the DDP process group under torchrun (a no-op otherwise), before
    # anything calls run_on_main.
    sb.utils.distributed.ddp_init_group(run_opts)
    hparams_file = resolve_hparams_path(hparams_file, recipe_folder)
    overrides = _share_run_options(hparams_file, run_opts, overrides)
    with open(hparams_file, encoding="utf-8") as fin:
        try:
            hparams = load_hyperpyyaml(fin, overrides)
        except KeyError as error:  # "Override 'x' not found in: [...]"
            if not str(error.args[0] if error.args else "").startswith("Override"):
                raise
            raise InputError(f"{hparams_file}: {error.args[0]} (an option names a key of this "
                             "file; a nested key is given inside its mapping)") from None
        except ValueError as error:  # "'data_folder' is a !PLACEHOLDER and must be replaced."
            placeholder = re.match(r"'(\w+)' is a !PLACEHOLDER", str(error))
            if not placeholder:
                raise
            key = placeholder[1]
            command = shlex.join([sys.argv[0] or "train.py", *argv, f"--{key}", key.upper()])
            raise InputError(f"{hparams_file}: --{key} is required (it has no default); "
                             f"run: python {command}") from None
    return hparams_file, run_opts, overrides, hparams


def _share_run_options(hparams_file, run_opts, overrides):
    """Run options given on the command line (e.g. ``--optimizer_step_limit``)
    also override the YAML key of the same name, so that values derived from
    it (a schedule's length) agree with what the Brain does."""
    with open(hparams_file, encoding="utf-8") as fin:
        keys = set(re.findall(r"^([A-Za-z_]\w*):", fin.read(), re.MULTILINE))
    given = getattr(run_opts, "overridden_args", set()) or set()
    shared = {k: getattr(run_opts, k) for k in sorted(given & keys)}
    if not shared:
        return overrides
    # The user's overrides pass as written (a run option is never among them: SpeechBrain
    # takes it out), the shared options appended as JSON scalars (YAML 1.2, as HyperPyYAML
    # reads). Re-dumping the overrides with PyYAML (YAML 1.1) turned a fold "08" into 8.
    lines = [overrides.rstrip("\n")] if overrides else []
    lines += [f"{key}: {json.dumps(value)}" for key, value in shared.items()]
    return "\n".join(lines)


def default_device():
    """``"cuda"`` when a GPU is visible, else ``"cpu"`` (for YAML keys of
    helpers such as a text teacher that run outside the Brain)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_script(path, name=None):
    """Imports the script ``path`` (a recipe's ``train.py`` or prepare
    script, ``recipes/benchmark.py``) as a module called ``name`` (default:
    the file's stem); its folder is on ``sys.path`` while it loads, so that a
    ``train.py`` finds its prepare script."""
    path = Path(path)
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(name or path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def dump_yaml(values):
    """Plain values as block YAML (the exporters' argument lists) that
    HyperPyYAML reads back as written: PyYAML writes YAML 1.1 and leaves
    strings such as ``08`` or ``1e3`` unquoted, which HyperPyYAML (ruamel.yaml,
    YAML 1.2) would read as numbers; those are quoted.

    >>> print(dump_yaml({"folds": ["03", "08"], "labels": ["none", "anger"]}))
    folds:
    - '03'
    - '08'
    labels: [none, anger]
    """
    return yaml.dump(values, Dumper=_HyperPyYAMLDumper, sort_keys=False, default_flow_style=None).rstrip()


class _HyperPyYAMLDumper(yaml.SafeDumper):
    """A ``SafeDumper`` that quotes each string a YAML 1.2 reader would not
    read back as that string."""


def _represent_str(dumper, value):
    style = None
    try:
        if _YAML12.load(value) != value:
            style = "'"
    except Exception:  # not a plain scalar at all: PyYAML quotes it itself
        pass
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_YAML12 = ruamel.yaml.YAML(typ="safe", pure=True)
_HyperPyYAMLDumper.add_representer(str, _represent_str)
