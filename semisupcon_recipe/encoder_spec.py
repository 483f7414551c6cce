"""The encoder's self-contained description, written next to its checkpoints.

A pretraining yaml builds the encoder from ``!include``d blocks and ``!ref``s. At the
start of a run, :func:`write_encoder_spec` resolves them (hyperpyyaml's own
``resolve_references``) and writes ``encoder_spec.yaml`` into the output folder: the
``encoder`` node alone plus ``sample_rate``, ``clip_len`` and ``embedding_dim``.
:func:`load_encoder_spec` rebuilds the module from it anywhere, without the recipe,
its manifests or its include paths; export and every interop path start from it.
"""

from __future__ import annotations

import io
from pathlib import Path

import ruamel.yaml
from hyperpyyaml import load_hyperpyyaml, resolve_references

SPEC_FILE = "encoder_spec.yaml"


def encoder_spec_text(hparams_file: str | Path, overrides: str | dict | None = None) -> str:
    """The yaml text describing the encoder of a recipe yaml (includes and refs resolved).

    Parameters
    ----------
    hparams_file : str or Path
        A pretraining yaml with ``modules: encoder``, ``sample_rate`` and ``clip_len``.
    overrides : str or dict, optional
        The overrides the run used (SpeechBrain's ``parse_arguments`` gives a string).

    Example
    -------
    >>> text = encoder_spec_text("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                          {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"})
    >>> print(text.splitlines()[0])
    sample_rate: 16000
    """
    with open(hparams_file, encoding="utf-8") as stream:
        resolved = resolve_references(stream, overrides).getvalue()
    yaml = ruamel.yaml.YAML()
    document = yaml.load(resolved)
    encoder = document["modules"]["encoder"]
    spec = {
        "sample_rate": document["sample_rate"],
        "clip_len": document["clip_len"],
        "embedding_dim": _embedding_dim(encoder, document),
        "encoder": encoder,
    }
    output = io.StringIO()
    yaml.dump(spec, output)
    return output.getvalue()


def _embedding_dim(encoder_node, document) -> int:
    """Build the encoder once from the resolved node to read its ``embedding_dim``."""
    yaml = ruamel.yaml.YAML()
    output = io.StringIO()
    yaml.dump({"encoder": encoder_node}, output)
    return int(load_hyperpyyaml(output.getvalue())["encoder"].embedding_dim)


def write_encoder_spec(hparams_file: str | Path, overrides: str | dict | None, output_folder: str | Path) -> Path:
    """Write ``encoder_spec.yaml`` into ``output_folder``; returns its path."""
    path = Path(output_folder) / SPEC_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(encoder_spec_text(hparams_file, overrides), encoding="utf-8")
    return path


def load_encoder_spec(path: str | Path) -> dict:
    """Load an ``encoder_spec.yaml`` (or a folder holding one): ``encoder`` (a fresh,
    randomly initialised module), ``sample_rate``, ``clip_len``, ``embedding_dim``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_encoder_spec("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                        {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}, folder)
    >>> spec = load_encoder_spec(folder)
    >>> spec["sample_rate"], spec["clip_len"], spec["embedding_dim"], type(spec["encoder"]).__name__
    (16000, 8000, 64, 'SampleCNN')
    """
    path = Path(path)
    if path.is_dir():
        path = path / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pretraining writes it into its output folder at start-up")
    with open(path, encoding="utf-8") as stream:
        return load_hyperpyyaml(stream)
