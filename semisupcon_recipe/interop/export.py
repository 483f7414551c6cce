"""``semisupcon export``: a pretraining checkpoint -> a self-contained inference folder.

The exported folder holds three files and nothing executable:

- ``hyperparams.yaml``: a SpeechBrain inference yaml (the encoder node of
  ``encoder_spec.yaml``, ``sample_rate``, ``window``, ``hop``, ``embedding_dim``,
  ``weights_sha256``, ``modules`` and a ``pretrainer``), loaded by
  :class:`semisupcon_recipe.interop.speechbrain_inference.SemiSupConEncoder`;
- ``encoder.safetensors``: the encoder weights (safetensors: loading runs no pickled code);
- ``export.json``: a manifest with the same numbers, the weights' sha256 and the source
  checkpoint. Every loader checks the sha256 first, so a truncated or modified weights
  file is refused with an error that says so.

``window`` is the pretraining ``clip_len`` (samples at ``sample_rate``); ``hop`` is the
frame hop of :mod:`semisupcon_recipe.interop.windows` (default: half a window), rounded
to a whole number of 16 kHz samples so that s3prl gets an integer frame stride.

Which checkpoint: ``CHECKPOINT_DIR`` may be a pretraining output folder (holding
``save/``), its checkpoint folder, or one ``CKPT+...`` folder. Among several
checkpoints the one with the lowest validation ``loss`` is exported when any
checkpoint recorded one (pretraining with validation manifests); otherwise the most
recent one.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import ruamel.yaml
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.encoder_spec import SPEC_FILE, load_encoder_spec, write_encoder_spec

if TYPE_CHECKING:
    import torch

    from semisupcon_recipe.interop.windows import SlidingWindowEncoder

logger = logging.getLogger(__name__)

HPARAMS_FILE = "hyperparams.yaml"
WEIGHTS_FILE = "encoder.safetensors"
MANIFEST_FILE = "export.json"
EXPORT_FORMAT = "semisupcon-export"
EXPORT_VERSION = 1
CHECKPOINT_ENCODER_FILE = "encoder.ckpt"
VALID_LOSS_KEY = "loss"
RECORDED_NUMBERS = ("sample_rate", "window", "hop", "embedding_dim")
S3PRL_SAMPLE_RATE = 16000  # s3prl's fixed input rate (its upstream contract)
UNTRAINED_CHECKPOINT_FOLDER = "save"
UNTRAINED_EXPORT_FOLDER = "exported"


class ExportError(RuntimeError):
    """A checkpoint cannot be exported or an export folder cannot be loaded; the message says why and what to do."""


def stride_unit(sample_rate: int) -> int:
    """Smallest hop (in samples at ``sample_rate``) that is a whole number of 16 kHz samples.

    Example
    -------
    >>> stride_unit(16000), stride_unit(22050), stride_unit(44100)
    (1, 441, 441)
    """
    return sample_rate // math.gcd(sample_rate, S3PRL_SAMPLE_RATE)


def choose_hop(sample_rate: int, window: int, hop_seconds: float | None = None) -> int:
    """The frame hop in samples: ``hop_seconds`` (default half a window) rounded to a
    multiple of :func:`stride_unit`, at least one unit.

    Example
    -------
    >>> choose_hop(16000, 8000), choose_hop(22050, 59049), choose_hop(16000, 8000, 0.05)
    (4000, 29547, 800)
    """
    unit = stride_unit(sample_rate)
    wanted = window / 2 if hop_seconds is None else hop_seconds * sample_rate
    if wanted <= 0:
        raise ExportError(f"the hop must be positive, got {hop_seconds} s")
    return max(1, round(wanted / unit)) * unit


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x")
    >>> _ = open(path, "wb").write(b"abc")
    >>> sha256_of(path)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_checkpoint(checkpoint_dir: str | Path) -> Path:
    """The ``CKPT+...`` folder to export from ``checkpoint_dir`` (see the module docstring).

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> save = Path(tempfile.mkdtemp()) / "save"
    >>> checkpointer = Checkpointer(save, {"encoder": torch.nn.Linear(1, 1)})
    >>> first = checkpointer.save_checkpoint(meta={"loss": 0.5}).path
    >>> second = checkpointer.save_checkpoint(meta={"loss": 0.9}).path
    >>> find_checkpoint(save.parent) == first
    True
    """
    from speechbrain.utils.checkpoints import Checkpointer

    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder: pass a pretraining output folder, its save/ folder or one CKPT+ folder")
    if Checkpointer._is_checkpoint_dir(folder):
        return folder
    for save_dir in (folder, folder / "save"):
        if not save_dir.is_dir():
            continue
        checkpointer = Checkpointer(save_dir)
        best = checkpointer.find_checkpoint(min_key=VALID_LOSS_KEY) or checkpointer.find_checkpoint()
        if best is not None:
            return best.path
    raise ExportError(
        f"no SpeechBrain checkpoint (CKPT+*/CKPT.yaml) found in {folder} or {folder / 'save'}: "
        "pass a pretraining output folder, its save/ folder or one CKPT+ folder of a run that saved a checkpoint"
    )


def find_encoder_spec(checkpoint: Path) -> Path:
    """``encoder_spec.yaml`` of a checkpoint: in the pretraining output folder above its save/ folder.

    Example
    -------
    >>> import tempfile
    >>> checkpoint = Path(tempfile.mkdtemp()) / "save" / "CKPT+x"
    >>> checkpoint.mkdir(parents=True)
    >>> _ = (checkpoint.parent.parent / SPEC_FILE).write_text("sample_rate: 16000")
    >>> find_encoder_spec(checkpoint).name
    'encoder_spec.yaml'
    """
    for folder in (checkpoint.parent.parent, checkpoint.parent):
        if (folder / SPEC_FILE).is_file():
            return folder / SPEC_FILE
    raise ExportError(
        f"{SPEC_FILE} not found next to {checkpoint.parent} (pretraining writes it into its output folder); "
        "pass its path with --encoder-spec"
    )


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _hparams_text(encoder_node, numbers: dict, sha256: str, source: str) -> str:
    """The inference yaml: the encoder node as written by pretraining plus the interop fields."""
    yaml = ruamel.yaml.YAML()
    encoder_text = io.StringIO()
    yaml.dump({"encoder": encoder_node}, encoder_text)
    return (
        f"# SemiSupCon encoder exported by `semisupcon export` from {source}\n"
        "# Load with semisupcon_recipe.interop.speechbrain_inference.SemiSupConEncoder.from_hparams(source=<this folder>)\n"
        "# or semisupcon_recipe.interop.export.load_exported(<this folder>).\n"
        f"sample_rate: {numbers['sample_rate']}\n"
        f"window: {numbers['window']}  # samples per analysis window (pretraining clip_len)\n"
        f"hop: {numbers['hop']}  # samples between frame centres\n"
        f"embedding_dim: {numbers['embedding_dim']}\n"
        f"weights_sha256: {sha256}\n"
        "export_folder: !PLACEHOLDER  # where this file lies; SemiSupConEncoder.from_hparams sets it to `source`\n"
        "\n"
        f"{encoder_text.getvalue().rstrip()}\n"
        "\n"
        "modules:\n"
        "    encoder: !ref <encoder>\n"
        "\n"
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
        "    loadables:\n"
        "        encoder: !ref <encoder>\n"
        "    paths:\n"
        f"        encoder: !ref <export_folder>/{WEIGHTS_FILE}\n"
        "    custom_hooks:\n"
        "        encoder: !name:semisupcon_recipe.interop.export.load_encoder_weights\n"
        "            sha256: !ref <weights_sha256>\n"
    )


def export_checkpoint(
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    hop_seconds: float | None = None,
    encoder_spec: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Export the encoder of a pretraining checkpoint into ``out_dir``.

    Parameters
    ----------
    checkpoint_dir : str or Path
        Pretraining output folder, its save/ folder, or one ``CKPT+`` folder.
    out_dir : str or Path
        Export folder (created).
    hop_seconds : float, optional
        Frame hop; default half a window (see :func:`choose_hop`).
    encoder_spec : str or Path, optional
        ``encoder_spec.yaml`` when it is not in the output folder above the checkpoints.
    overwrite : bool
        Replace an existing export in ``out_dir``.

    Returns
    -------
    Path
        ``out_dir``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> from semisupcon_recipe.encoder_spec import load_encoder_spec, write_encoder_spec
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = write_encoder_spec("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                        {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}, run)
    >>> _ = Checkpointer(run / "save", {"encoder": load_encoder_spec(run)["encoder"]}).save_checkpoint()
    >>> out = export_checkpoint(run, run / "exported")
    >>> sorted(path.name for path in out.iterdir())
    ['encoder.safetensors', 'export.json', 'hyperparams.yaml']
    >>> encoder, metadata = load_exported(out)
    >>> metadata["sample_rate"], metadata["window"], metadata["hop"], metadata["embedding_dim"]
    (16000, 8000, 4000, 64)
    """
    import torch
    from safetensors.torch import save_file
    from speechbrain.utils.checkpoints import Checkpointer

    checkpoint = find_checkpoint(checkpoint_dir)
    spec_path = Path(encoder_spec) if encoder_spec is not None else find_encoder_spec(checkpoint)
    weights_path = checkpoint / CHECKPOINT_ENCODER_FILE
    if not weights_path.is_file():
        raise ExportError(f"{checkpoint} holds no {CHECKPOINT_ENCODER_FILE}: the recipe must list `encoder` among the checkpointer's recoverables")
    out = Path(out_dir)
    if (out / MANIFEST_FILE).exists() and not overwrite:
        raise ExportError(f"{out} already holds an export; choose another folder or pass --overwrite")

    yaml = ruamel.yaml.YAML()
    with open(spec_path, encoding="utf-8") as stream:
        spec_document = yaml.load(stream)
    with open(spec_path, encoding="utf-8") as stream:
        spec = load_hyperpyyaml(stream)
    encoder = spec["encoder"]
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    try:
        encoder.load_state_dict(state)
    except RuntimeError as error:
        raise ExportError(f"{weights_path} does not fit the encoder described by {spec_path}: {error}") from error
    if int(encoder.embedding_dim) != int(spec["embedding_dim"]):
        raise ExportError(f"{spec_path}: embedding_dim {spec['embedding_dim']} but the encoder gives {encoder.embedding_dim}")

    sample_rate, window = int(spec["sample_rate"]), int(spec["clip_len"])
    numbers = {
        "sample_rate": sample_rate,
        "window": window,
        "hop": choose_hop(sample_rate, window, hop_seconds),
        "embedding_dim": int(spec["embedding_dim"]),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_FILE).unlink(missing_ok=True)  # an export without its manifest is never loaded
    tensors = {name: tensor.detach().contiguous() for name, tensor in encoder.state_dict().items()}
    temporary = out / (WEIGHTS_FILE + ".partial")
    save_file(tensors, str(temporary), metadata={"format": EXPORT_FORMAT})
    os.replace(temporary, out / WEIGHTS_FILE)
    sha256 = sha256_of(out / WEIGHTS_FILE)
    text = _hparams_text(spec_document["encoder"], numbers, sha256, str(checkpoint))
    _atomic_write_bytes(out / HPARAMS_FILE, text.encode("utf-8"))
    manifest = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        **numbers,
        "weights": WEIGHTS_FILE,
        "weights_sha256": sha256,
        "source_checkpoint": str(checkpoint.resolve()),
        "source_meta": dict(Checkpointer._construct_checkpoint_objects([checkpoint])[0].meta),
    }
    _atomic_write_bytes(out / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    logger.info("exported %s to %s", checkpoint, out)
    return out


def load_encoder_weights(module: torch.nn.Module, path: str | Path, sha256: str | None = None) -> None:
    """Load ``encoder.safetensors`` into ``module`` after checking its sha256.

    Also the SpeechBrain ``Pretrainer`` hook of exported ``hyperparams.yaml`` files.

    Raises
    ------
    ExportError
        The file is missing, its sha256 differs from the recorded one (truncated or
        modified), it is not a safetensors file, or its tensors do not fit ``module``.

    Example
    -------
    >>> import tempfile, torch
    >>> from safetensors.torch import save_file
    >>> path = Path(tempfile.mkdtemp()) / "encoder.safetensors"
    >>> save_file({"weight": torch.ones(1, 1), "bias": torch.zeros(1)}, str(path))
    >>> layer = torch.nn.Linear(1, 1)
    >>> load_encoder_weights(layer, path, sha256_of(path))
    >>> layer.weight.item()
    1.0
    >>> load_encoder_weights(layer, path, "0" * 64)
    Traceback (most recent call last):
    ...
    semisupcon_recipe.interop.export.ExportError: ... truncated or was modified; ...
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"weights file {path} not found; re-export the checkpoint with `semisupcon export`")
    if sha256 is not None and sha256_of(path) != sha256:
        raise ExportError(
            f"{path} does not match the sha256 recorded at export time: the file is truncated or was modified; "
            "re-export the checkpoint with `semisupcon export` (or copy the export folder again)"
        )
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as error:
        raise ExportError(f"{path} is not a readable safetensors file ({error}); re-export the checkpoint") from error
    try:
        module.load_state_dict(tensors)
    except RuntimeError as error:
        raise ExportError(f"{path} does not fit the encoder described by hyperparams.yaml: {error}") from error


def read_manifest(folder: str | Path) -> dict:
    """The ``export.json`` of an export folder, checked for format and completeness.

    Example
    -------
    >>> import tempfile
    >>> read_manifest(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    semisupcon_recipe.interop.export.ExportError: ... is not a complete export folder (export.json missing): ...
    """
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise ExportError(f"{folder} is not a complete export folder ({MANIFEST_FILE} missing): create it with `semisupcon export CHECKPOINT_DIR {folder}`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ExportError(f"{path} is not valid JSON ({error}); re-export the checkpoint") from error
    if manifest.get("format") != EXPORT_FORMAT or manifest.get("version") != EXPORT_VERSION:
        raise ExportError(f"{path} is not a {EXPORT_FORMAT} version {EXPORT_VERSION} manifest; re-export with this version of semisupcon-recipe")
    missing = [key for key in (*RECORDED_NUMBERS, "weights", "weights_sha256") if key not in manifest]
    if missing:
        raise ExportError(f"{path} lacks {', '.join(missing)}; re-export the checkpoint")
    return manifest


def load_exported(folder: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load an exported encoder, offline.

    Parameters
    ----------
    folder : str or Path
        A folder written by :func:`export_checkpoint`.
    device : str or torch.device
        Where to put the encoder.

    Returns
    -------
    (torch.nn.Module, dict)
        The encoder in eval mode and the ``export.json`` manifest (``sample_rate``,
        ``window``, ``hop``, ``embedding_dim``, ``weights_sha256``, ``source_checkpoint``...).

    Raises
    ------
    ExportError
        Missing or inconsistent files, or weights that fail their sha256 check.

    Example
    -------
    See :func:`export_checkpoint`.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    hparams_path = folder / HPARAMS_FILE
    if not hparams_path.is_file():
        raise ExportError(f"{hparams_path} not found; re-export the checkpoint")
    with open(hparams_path, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, {"export_folder": str(folder)})
    for key in (*RECORDED_NUMBERS, "weights_sha256"):
        if hparams[key] != manifest[key]:
            raise ExportError(f"{hparams_path} and {MANIFEST_FILE} disagree on {key} ({hparams[key]} vs {manifest[key]}); re-export the checkpoint")
    encoder = hparams["encoder"]
    load_encoder_weights(encoder, folder / manifest["weights"], manifest["weights_sha256"])
    return encoder.to(device).eval(), manifest


def load_sliding_encoder(
    folder: str | Path, device: str | torch.device = "cpu", max_windows_per_call: int = 64
) -> tuple[SlidingWindowEncoder, dict]:
    """Load an exported encoder as the sliding-window frame computation every interop path uses.

    Parameters
    ----------
    folder : str or Path
        A folder written by :func:`export_checkpoint`.
    device : str or torch.device
        Where to put the encoder.
    max_windows_per_call : int
        Memory bound of :class:`~semisupcon_recipe.interop.windows.SlidingWindowEncoder`.

    Returns
    -------
    (SlidingWindowEncoder, dict)
        The encoder (in eval mode) on windows of the exported ``window`` and ``hop``, and
        the ``export.json`` manifest (see :func:`load_exported`).

    Example
    -------
    >>> import tempfile
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                                     {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"},
    ...                                     tempfile.mkdtemp())
    >>> sliding, metadata = load_sliding_encoder(exported, max_windows_per_call=2)
    >>> sliding.window, sliding.hop, sliding.max_windows_per_call, metadata["embedding_dim"]
    (8000, 4000, 2, 64)
    """
    from semisupcon_recipe.interop.windows import SlidingWindowEncoder

    encoder, metadata = load_exported(folder, device=device)
    return SlidingWindowEncoder(encoder, metadata["window"], metadata["hop"], max_windows_per_call), metadata


def export_untrained_encoder(hparams_file: str | Path, overrides: str | dict | None, output_folder: str | Path) -> Path:
    """Export the randomly initialised encoder of a pretraining yaml, without training.

    Writes ``encoder_spec.yaml`` and one checkpoint (``save/CKPT+...``) into
    ``output_folder`` as pretraining would, then exports it to ``output_folder/exported``.
    Useful to check that a new encoder yaml exports and loads in s3prl, HEAR and
    SpeechBrain inference before spending time on pretraining (and for examples).

    Parameters
    ----------
    hparams_file : str or Path
        A pretraining yaml.
    overrides : str or dict, optional
        hyperpyyaml overrides, e.g. the manifests the yaml requires (they are not read).
    output_folder : str or Path
        Where the spec, the checkpoint and the export go.

    Returns
    -------
    Path
        The export folder.

    Example
    -------
    >>> import tempfile
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                                     {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"},
    ...                                     tempfile.mkdtemp())
    >>> sorted(path.name for path in exported.iterdir())
    ['encoder.safetensors', 'export.json', 'hyperparams.yaml']
    """
    from speechbrain.utils.checkpoints import Checkpointer

    output_folder = Path(output_folder)
    write_encoder_spec(hparams_file, overrides, output_folder)
    encoder = load_encoder_spec(output_folder)["encoder"]
    Checkpointer(output_folder / UNTRAINED_CHECKPOINT_FOLDER, {"encoder": encoder}).save_checkpoint()
    return export_checkpoint(output_folder, output_folder / UNTRAINED_EXPORT_FOLDER)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``semisupcon export``."""
    parser.add_argument("checkpoint_dir", help="pretraining output folder, its save/ folder, or one CKPT+ folder")
    parser.add_argument("out_dir", help="export folder to create (hyperparams.yaml, encoder.safetensors, export.json)")
    parser.add_argument("--hop", type=float, default=None, metavar="SECONDS",
                        help="frame hop in seconds (default: half the pretraining clip length); "
                        "rounded to a whole number of 16 kHz samples")
    parser.add_argument("--encoder-spec", default=None, metavar="PATH",
                        help="encoder_spec.yaml when it is not in the output folder above the checkpoints")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export in OUT_DIR")


def main(args: argparse.Namespace) -> int:
    """Run ``semisupcon export``; returns the exit code."""
    try:
        out = export_checkpoint(args.checkpoint_dir, args.out_dir, args.hop, args.encoder_spec, args.overwrite)
    except ExportError as error:
        print(f"semisupcon export: error: {error}", file=sys.stderr)
        return 1
    manifest = read_manifest(out)
    print(
        f"exported {manifest['source_checkpoint']} -> {out} "
        f"(sample_rate {manifest['sample_rate']}, window {manifest['window']}, hop {manifest['hop']}, "
        f"embedding_dim {manifest['embedding_dim']})"
    )
    return 0
