"""The CARE encoder architectures shipped inside the package: ``care_small.yaml``
and ``care_base.yaml`` in this folder, each a HyperPyYAML file whose
top-level ``encoder`` is built with ``!new:care.lobes.CAREEncoder`` (parameter
counts in the repository README).

They are package data, so they are found wherever ``care`` is installed
(editable or not): the probing control ``encoder_source: random:care_small``
and the pretraining configs (``recipes/Pretrain/hparams/care_*.yaml``, which
``!include:`` them by their path in the repository) read the same files. From
any SpeechBrain YAML::

    care: !include:<path of this folder>/care_small.yaml
        target_dim: 24                      # overrides, as usual
    encoder: !ref <care[encoder]>

Example
-------
>>> architecture_file("care_small").name
'care_small.yaml'
>>> sorted(known_architectures())
['care_base', 'care_small']

Authors
 * CARE for SpeechBrain contributors, 2026
"""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def known_architectures():
    """Names of the packaged architectures (file names without ``.yaml``)."""
    return sorted(path.stem for path in FOLDER.glob("*.yaml"))


def architecture_file(name):
    """The packaged architecture YAML called ``name`` (e.g. ``care_small``).

    Raises
    ------
    ValueError
        No such architecture; the message lists the known ones.
    """
    path = FOLDER / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"no packaged architecture {name!r} (known: {known_architectures()})")
    return path
