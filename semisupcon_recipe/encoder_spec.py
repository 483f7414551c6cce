"""The encoder's self-contained description: plain data, read without running code.

A pretraining yaml builds the encoder from ``!include``d blocks and ``!ref``s. At the
start of a run, :func:`write_encoder_spec` resolves them (hyperpyyaml's own
``resolve_references``) and writes ``encoder_spec.yaml`` into the output folder: the
``encoder`` node as plain data plus ``sample_rate``, ``clip_len`` and ``embedding_dim``.
Every ``!new:`` node becomes ``{class: <dotted name>, kwargs: {...}}`` (or ``args``)::

    encoder:
      class: semisupcon_recipe.encoders.SampleCNN
      kwargs: {sample_rate: 16000, channels: [16, 16], kernel: 3, normalization: group}

Reading a description (:func:`read_description`) never runs code: the file is parsed
with ``yaml.safe_load`` (which rejects every tag, ``!apply:`` and ``!new:`` included)
and checked before anything is built: every ``class`` must be in
:data:`ALLOWED_CLASSES` (the project's encoders and the SpeechBrain lobes they
support) and every argument a plain scalar, list, mapping or nested description.
Anything else is refused with :class:`UnsafeDescriptionError`, naming the file and
the offending tag or class. ``trust_code=True`` (``--trust-code`` on the command line)
is the explicit opt-in for a description that names another class (an encoder of your
own): only use it for files you wrote or trust. Tags are refused even then: a
description is data, and building it runs only the named classes' constructors.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import ruamel.yaml
import yaml
from hyperpyyaml import resolve_references

from semisupcon_recipe.files import atomic_write_text

SPEC_FILE = "encoder_spec.yaml"
DESCRIPTION_NUMBERS = ("sample_rate", "clip_len", "embedding_dim")
ALLOWED_CLASSES = frozenset(
    {
        "semisupcon_recipe.encoders.SampleCNN",
        "semisupcon_recipe.encoders.samplecnn.SampleCNN",
        "semisupcon_recipe.encoders.SpeechBrainLobeEncoder",
        "semisupcon_recipe.encoders.lobe.SpeechBrainLobeEncoder",
        "semisupcon_recipe.encoders.BEATsEncoder",
        "semisupcon_recipe.encoders.beats.BEATsEncoder",
        "semisupcon_recipe.encoders.Cnn14Encoder",
        "semisupcon_recipe.encoders.cnn14.Cnn14Encoder",
        "semisupcon_recipe.encoders.ConformerEncoder",
        "semisupcon_recipe.encoders.conformer.ConformerEncoder",
        "semisupcon_recipe.encoders.Wav2Vec2Encoder",
        "semisupcon_recipe.encoders.wav2vec2.Wav2Vec2Encoder",
        "semisupcon_recipe.demo.baselines.HandcraftedFeatures",  # the demo's handcrafted-features baseline
        "speechbrain.lobes.features.Fbank",
        "speechbrain.lobes.features.MFCC",
        "speechbrain.processing.features.InputNormalization",
        "speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN",
        "speechbrain.lobes.models.Xvector.Xvector",
        "speechbrain.lobes.models.CRDNN.CRDNN",
    }
)
TRUST_HINT = "pass trust_code=True (command line: --trust-code) only if you wrote or trust this file"


class UnsafeDescriptionError(ValueError):
    """An encoder description that would run code or build a class outside the allow-list."""


def _plain(node: Any, where: str) -> Any:
    """A resolved ruamel node as plain data: ``!new:`` -> ``{class, kwargs|args}``."""
    tag = getattr(getattr(node, "tag", None), "value", None)
    if tag is not None and tag.startswith("!new:"):
        description: dict[str, Any] = {"class": tag[len("!new:"):]}
        if isinstance(node, dict):
            description["kwargs"] = {str(key): _plain(value, f"{where}.{key}") for key, value in node.items()}
        elif isinstance(node, list):
            description["args"] = [_plain(value, f"{where}[{index}]") for index, value in enumerate(node)]
        return description
    if tag is not None and tag.startswith("!") and tag != "!tuple":
        raise UnsafeDescriptionError(
            f"{where}: the tag {tag} cannot be written as a plain encoder description; "
            "build the encoder with !new: nodes and plain arguments only"
        )
    if isinstance(node, dict):
        return {str(key): _plain(value, f"{where}.{key}") for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(value, f"{where}[{index}]") for index, value in enumerate(node)]
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def encoder_spec_text(hparams_file: str | Path, overrides: str | dict | None = None) -> str:
    """The plain-data yaml describing the encoder of a recipe yaml (includes and refs resolved).

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
    >>> print("\\n".join(text.splitlines()[:5]))
    sample_rate: 16000
    clip_len: 8000
    embedding_dim: 64
    encoder:
      class: semisupcon_recipe.encoders.SampleCNN
    >>> "!" in text
    False
    """
    with open(hparams_file, encoding="utf-8") as stream:
        resolved = resolve_references(stream, overrides).getvalue()
    document = ruamel.yaml.YAML().load(resolved)
    encoder = _plain(document["modules"]["encoder"], f"{hparams_file}: modules.encoder")
    spec = {
        "sample_rate": int(document["sample_rate"]),
        "clip_len": int(document["clip_len"]),
        "embedding_dim": int(build_encoder(encoder, str(hparams_file), trust_code=True).embedding_dim),
        "encoder": encoder,
    }
    return yaml.safe_dump(spec, sort_keys=False)


def write_encoder_spec(hparams_file: str | Path, overrides: str | dict | None, output_folder: str | Path) -> Path:
    """Write ``encoder_spec.yaml`` into ``output_folder`` (atomically); returns its path.

    Example
    -------
    >>> import tempfile
    >>> write_encoder_spec("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                    {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}, tempfile.mkdtemp()).name
    'encoder_spec.yaml'
    """
    path = Path(output_folder) / SPEC_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, encoder_spec_text(hparams_file, overrides))
    return path


def _check_node(node: Any, where: str, source: str, trust_code: bool) -> None:
    """Refuse classes outside the allow-list and arguments that are not plain data."""
    if isinstance(node, dict):
        if "class" in node:
            name = node["class"]
            if not isinstance(name, str) or set(node) - {"class", "kwargs", "args"}:
                raise UnsafeDescriptionError(f"{source}: {where} must be {{class: NAME, kwargs: {{...}}}} (got keys {sorted(node)})")
            if name not in ALLOWED_CLASSES and not trust_code:
                raise UnsafeDescriptionError(
                    f"{source}: {where} names the class {name}, which is not among the encoders this "
                    f"package builds without trust ({', '.join(sorted(ALLOWED_CLASSES))}); {TRUST_HINT}"
                )
            if not isinstance(node.get("kwargs", {}), dict) or not isinstance(node.get("args", []), list):
                raise UnsafeDescriptionError(f"{source}: {where}: kwargs must be a mapping and args a list")
        for key, value in node.items():
            if key != "class":
                _check_node(value, f"{where}.{key}", source, trust_code)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check_node(value, f"{where}[{index}]", source, trust_code)
    elif not (node is None or isinstance(node, (bool, int, float, str))):
        raise UnsafeDescriptionError(f"{source}: {where} is a {type(node).__name__}, not plain data")


def read_description(path: str | Path, trust_code: bool = False) -> dict:
    """Read and check an encoder description (``encoder_spec.yaml`` or an export's
    ``hyperparams.yaml``) without building anything.

    Parameters
    ----------
    path : str or Path
        The yaml file (or a folder holding ``encoder_spec.yaml``).
    trust_code : bool
        Accept classes outside :data:`ALLOWED_CLASSES` (tags stay refused).

    Returns
    -------
    dict
        The parsed document; ``encoder`` is a ``{class, kwargs}`` mapping.

    Raises
    ------
    UnsafeDescriptionError
        A tag (``!apply:``, ``!new:``...), a class outside the allow-list, or
        non-plain arguments; the message names the file and the opt-in.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "encoder_spec.yaml"
    >>> _ = path.write_text("encoder: !apply:os.system ['touch pwned']\\n")
    >>> read_description(path)
    Traceback (most recent call last):
    ...
    semisupcon_recipe.encoder_spec.UnsafeDescriptionError: ... the tag !apply:os.system ...
    """
    path = Path(path)
    if path.is_dir():
        path = path / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pretraining writes {SPEC_FILE} into its output folder at start-up")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.constructor.ConstructorError as error:
        tag = error.problem.split("tag ", 1)[-1].strip("'") if error.problem else "?"
        raise UnsafeDescriptionError(
            f"{path}: the tag {tag} is refused: an encoder description is plain data and loading it never runs "
            f"code ({error.problem_mark}); this file was modified, or written by another tool or an older version. "
            "Write the encoder as `encoder: {class: NAME, kwargs: {...}}` (rerun pretraining's write_encoder_spec, "
            "or re-export); for a class outside the allow-list, pass trust_code=True (command line: --trust-code)"
        ) from error
    except yaml.YAMLError as error:
        raise UnsafeDescriptionError(f"{path} is not valid yaml ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("encoder"), dict):
        raise UnsafeDescriptionError(f"{path} holds no `encoder: {{class: ..., kwargs: ...}}` description")
    _check_node(document["encoder"], "encoder", str(path), trust_code)
    return document


def build_encoder(node: dict, source: str, trust_code: bool = False) -> Any:
    """Build the module a checked ``{class, kwargs|args}`` description names (recursively).

    Example
    -------
    >>> encoder = build_encoder({"class": "semisupcon_recipe.encoders.SampleCNN",
    ...     "kwargs": {"sample_rate": 16000, "channels": [8, 8], "kernel": 3}}, "example")
    >>> type(encoder).__name__, encoder.embedding_dim
    ('SampleCNN', 8)
    """
    _check_node(node, "encoder", source, trust_code)
    return _build(node)


def _build(node: Any) -> Any:
    if isinstance(node, dict) and "class" in node:
        module_name, _, class_name = node["class"].rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(*[_build(value) for value in node.get("args", [])],
                   **{key: _build(value) for key, value in node.get("kwargs", {}).items()})
    if isinstance(node, dict):
        return {key: _build(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_build(value) for value in node]
    return node


def load_encoder_spec(path: str | Path, trust_code: bool = False) -> dict:
    """Load an ``encoder_spec.yaml`` (or a folder holding one): ``encoder`` (a fresh,
    randomly initialised module), ``sample_rate``, ``clip_len``, ``embedding_dim``.
    Read with :func:`read_description` (no code runs; ``trust_code`` accepts classes
    outside the allow-list).

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
    document = read_description(path, trust_code)
    missing = [key for key in DESCRIPTION_NUMBERS if key not in document]
    if missing:
        raise UnsafeDescriptionError(f"{path} lacks {', '.join(missing)}; pretraining writes them into {SPEC_FILE}")
    return {**document, "encoder": build_encoder(document["encoder"], str(path), trust_code)}
