"""An export folder (``semisupcon export``'s output): its files, and loading it without running code.

- ``hyperparams.yaml``: the encoder's plain-data description
  (:mod:`semisupcon_recipe.encoder_spec`) with ``sample_rate``, ``window``, ``hop``,
  ``embedding_dim`` and ``weights_sha256``;
- ``encoder.safetensors``: the weights (no pickle);
- ``export.json``: the same numbers and the sha256 of both other files.

:func:`load_exported` checks both sha256 before parsing or building anything, reads the
description with the safe loader and builds only allow-listed classes (unless
``trust_code``). Every interop path (``semisupcon embed``, HEAR, s3prl, SpeechBrain
inference) and probing load export folders through it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from semisupcon_recipe.checkpoints import CheckpointError, sha256_of
from semisupcon_recipe.encoder_spec import build_encoder, read_description

if TYPE_CHECKING:
    import torch

HPARAMS_FILE = "hyperparams.yaml"
WEIGHTS_FILE = "encoder.safetensors"
MANIFEST_FILE = "export.json"
EXPORT_FORMAT = "semisupcon-export"
EXPORT_VERSION = 2
RECORDED_NUMBERS = ("sample_rate", "window", "hop", "embedding_dim")


def read_export_record(folder: str | Path) -> dict:
    """The ``export.json`` of an export folder, checked for format and completeness.

    Example
    -------
    >>> import tempfile
    >>> read_export_record(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    semisupcon_recipe.checkpoints.CheckpointError: ... is not a complete export folder (export.json missing): ...
    """
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{folder} is not a complete export folder ({MANIFEST_FILE} missing): create it with `semisupcon export CHECKPOINT_DIR {folder}`"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}); re-export the checkpoint") from error
    if not isinstance(record, dict) or record.get("format") != EXPORT_FORMAT or record.get("version") != EXPORT_VERSION:
        raise CheckpointError(
            f"{path} is not a {EXPORT_FORMAT} version {EXPORT_VERSION} record; re-export with this version of semisupcon-recipe"
        )
    missing = [key for key in (*RECORDED_NUMBERS, "weights", "weights_sha256", "description", "description_sha256") if key not in record]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}; re-export the checkpoint")
    return record


def load_encoder_weights(module: torch.nn.Module, path: str | Path, sha256: str | None = None) -> None:
    """Load ``encoder.safetensors`` into ``module`` after checking its sha256.

    Raises
    ------
    CheckpointError
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
    semisupcon_recipe.checkpoints.CheckpointError: ... truncated or was modified; ...
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} not found; re-export the checkpoint with `semisupcon export`")
    if sha256 is not None and sha256_of(path) != sha256:
        raise CheckpointError(
            f"{path} does not match the sha256 recorded at export time: the file is truncated or was modified; "
            "re-export the checkpoint with `semisupcon export` (or copy the export folder again)"
        )
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file ({error}); re-export the checkpoint") from error
    try:
        module.load_state_dict(tensors)
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not fit the encoder described by {HPARAMS_FILE}: {error}") from error


def load_exported(folder: str | Path, device: str | torch.device = "cpu", trust_code: bool = False) -> tuple[torch.nn.Module, dict]:
    """Load an encoder exported by ``semisupcon export``, offline, without running code.

    Parameters
    ----------
    folder : str or Path
        The export folder.
    device : str or torch.device
        Where to put the encoder.
    trust_code : bool
        Accept a description naming a class outside the allow-list of
        :mod:`semisupcon_recipe.encoder_spec` (an encoder of your own).

    Returns
    -------
    (torch.nn.Module, dict)
        The encoder in eval mode and the ``export.json`` record (``sample_rate``,
        ``window``, ``hop``, ``embedding_dim``, ``weights_sha256``, ``source_checkpoint``...).

    Raises
    ------
    CheckpointError
        Missing files, or a description or weights that fail their sha256 check.
    semisupcon_recipe.encoder_spec.UnsafeDescriptionError
        A description that would run code or build a class outside the allow-list.

    Example
    -------
    See :func:`semisupcon_recipe.interop.export.export_checkpoint`.
    """
    folder = Path(folder)
    record = read_export_record(folder)
    description_path = folder / record["description"]
    if not description_path.is_file():
        raise CheckpointError(f"{description_path} not found; re-export the checkpoint")
    if sha256_of(description_path) != record["description_sha256"]:
        raise CheckpointError(
            f"{description_path} does not match the sha256 recorded in {folder / MANIFEST_FILE}: it was modified after export; "
            "re-export the checkpoint (or copy the export folder again)"
        )
    document = read_description(description_path, trust_code)
    for key in (*RECORDED_NUMBERS, "weights_sha256"):
        if document.get(key) != record[key]:
            raise CheckpointError(
                f"{description_path} and {MANIFEST_FILE} disagree on {key} ({document.get(key)} vs {record[key]}); re-export the checkpoint"
            )
    encoder = build_encoder(document["encoder"], str(description_path), trust_code)
    load_encoder_weights(encoder, folder / record["weights"], record["weights_sha256"])
    return encoder.to(device).eval(), record
