"""``semisupcon export``: a pretraining checkpoint -> a self-contained inference folder.

The exported folder holds three files and nothing executable:

- ``hyperparams.yaml``: the encoder's plain-data description (the ``encoder`` of
  ``encoder_spec.yaml``: an allow-listed class and its arguments, no yaml tags; see
  :mod:`semisupcon_recipe.encoder_spec`) with ``sample_rate``, ``window``, ``hop``,
  ``embedding_dim`` and ``weights_sha256``;
- ``encoder.safetensors``: the encoder weights (safetensors: loading runs no pickled code);
- ``export.json``: a record with the same numbers, the sha256 of both other files and
  the source checkpoint. Every loader (:func:`semisupcon_recipe.exported.load_exported`,
  used by ``semisupcon embed``, HEAR, s3prl and SpeechBrain inference) checks both
  sha256 before building anything, so a truncated or modified file is refused with an
  error that says so.

``window`` is the pretraining ``clip_len`` (samples at ``sample_rate``); ``hop`` is the
frame hop of :mod:`semisupcon_recipe.interop.windows` (default: half a window), rounded
to a whole number of 16 kHz samples so that s3prl gets an integer frame stride.

Which checkpoint: ``CHECKPOINT_DIR`` may be a pretraining output folder (holding
``save/``), its checkpoint folder, or one ``CKPT+...`` folder; the choice is
:func:`semisupcon_recipe.checkpoints.find_checkpoint`'s (lowest validation ``loss``,
else the most recent; incomplete or modified checkpoints are skipped with a warning).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from semisupcon_recipe.cli_options import HOP_HELP, UsageError, add_trust_code_argument

if TYPE_CHECKING:
    import torch
    from speechbrain.utils.checkpoints import Checkpoint

    from semisupcon_recipe.interop.windows import SlidingWindowEncoder

logger = logging.getLogger(__name__)

S3PRL_SAMPLE_RATE = 16000  # s3prl's fixed input rate (its upstream contract)
UNTRAINED_CHECKPOINT_FOLDER = "save"
UNTRAINED_EXPORT_FOLDER = "exported"
UNREAD_MANIFESTS = {"labeled_manifest": "unread.csv", "unlabeled_manifest": "unread.csv"}


class ExportError(UsageError):
    """A checkpoint cannot be exported; the message says why and what to do."""


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


def _hparams_text(encoder: dict, numbers: dict, sha256: str, source: str) -> str:
    """The exported description: plain data only (no yaml tags), read with ``yaml.safe_load``."""
    body = yaml.safe_dump({**numbers, "weights_sha256": sha256, "encoder": encoder}, sort_keys=False)
    return (
        f"# SemiSupCon encoder exported by `semisupcon export` from {source}\n"
        "# Plain data: load with semisupcon_recipe.exported.load_exported(<this folder>) or\n"
        "# semisupcon_recipe.interop.speechbrain_inference.SemiSupConEncoder.from_hparams(source=<this folder>).\n"
        f"{body}"
    )


def export_checkpoint(
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    hop_seconds: float | None = None,
    encoder_spec: str | Path | None = None,
    overwrite: bool = False,
    trust_code: bool = False,
) -> Path:
    """Export the encoder of a verified pretraining checkpoint into ``out_dir``.

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
    trust_code : bool
        Accept an encoder class outside the allow-list of :mod:`semisupcon_recipe.encoder_spec`.

    Returns
    -------
    Path
        ``out_dir``.

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.checkpoints import VerifiedCheckpointer
    >>> from semisupcon_recipe.encoder_spec import load_encoder_spec, write_encoder_spec
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = write_encoder_spec("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                        {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}, run)
    >>> _ = VerifiedCheckpointer(run / "save", {"encoder": load_encoder_spec(run)["encoder"]}).save_checkpoint()
    >>> out = export_checkpoint(run, run / "exported")
    >>> sorted(path.name for path in out.iterdir())
    ['encoder.safetensors', 'export.json', 'hyperparams.yaml']
    >>> from semisupcon_recipe.exported import load_exported
    >>> encoder, metadata = load_exported(out)
    >>> metadata["sample_rate"], metadata["window"], metadata["hop"], metadata["embedding_dim"]
    (16000, 8000, 4000, 64)
    """
    from semisupcon_recipe.checkpoints import encoder_weights, find_checkpoint, find_encoder_spec, load_weights
    from semisupcon_recipe.encoder_spec import load_encoder_spec, read_description
    from semisupcon_recipe.exported import MANIFEST_FILE

    checkpoint = find_checkpoint(checkpoint_dir)
    spec_path = Path(encoder_spec) if encoder_spec is not None else find_encoder_spec(checkpoint)
    weights_path = encoder_weights(checkpoint)
    out = Path(out_dir)
    if (out / MANIFEST_FILE).exists() and not overwrite:
        raise ExportError(f"{out} already holds an export; choose another folder or pass --overwrite")

    spec = load_encoder_spec(spec_path, trust_code)
    encoder_description = read_description(spec_path, trust_code)["encoder"]
    encoder = load_weights(spec["encoder"], weights_path, spec_path)
    if int(encoder.embedding_dim) != int(spec["embedding_dim"]):
        raise ExportError(f"{spec_path}: embedding_dim {spec['embedding_dim']} but the encoder gives {encoder.embedding_dim}")

    sample_rate, window = int(spec["sample_rate"]), int(spec["clip_len"])
    numbers = {
        "sample_rate": sample_rate,
        "window": window,
        "hop": choose_hop(sample_rate, window, hop_seconds),
        "embedding_dim": int(spec["embedding_dim"]),
    }
    _write_export_files(out, encoder, encoder_description, numbers, checkpoint)
    logger.info("exported %s to %s", checkpoint.path, out)
    return out


def _write_export_files(out: Path, encoder: torch.nn.Module, description: dict, numbers: dict, checkpoint: Checkpoint) -> None:
    """Write ``encoder.safetensors``, ``hyperparams.yaml`` and, last, ``export.json`` (each atomically)."""
    from safetensors.torch import save as save_safetensors

    from semisupcon_recipe.checkpoints import sha256_of
    from semisupcon_recipe.exported import EXPORT_FORMAT, EXPORT_VERSION, HPARAMS_FILE, MANIFEST_FILE, WEIGHTS_FILE
    from semisupcon_recipe.files import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_FILE).unlink(missing_ok=True)  # an export without its record is never loaded
    tensors = {name: tensor.detach().contiguous() for name, tensor in encoder.state_dict().items()}
    atomic_write_bytes(out / WEIGHTS_FILE, save_safetensors(tensors, metadata={"format": EXPORT_FORMAT}))
    sha256 = sha256_of(out / WEIGHTS_FILE)
    atomic_write_bytes(out / HPARAMS_FILE, _hparams_text(description, numbers, sha256, str(checkpoint.path)).encode("utf-8"))
    record = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        **numbers,
        "weights": WEIGHTS_FILE,
        "weights_sha256": sha256,
        "description": HPARAMS_FILE,
        "description_sha256": sha256_of(out / HPARAMS_FILE),
        "source_checkpoint": str(Path(checkpoint.path).resolve()),
        "source_meta": dict(checkpoint.meta),
    }
    atomic_write_bytes(out / MANIFEST_FILE, (json.dumps(record, indent=2, default=str) + "\n").encode("utf-8"))


def load_sliding_encoder(
    folder: str | Path, device: str | torch.device = "cpu", max_windows_per_call: int = 64, trust_code: bool = False
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
    trust_code : bool
        Accept an encoder class outside the allow-list (see :func:`semisupcon_recipe.exported.load_exported`).

    Returns
    -------
    (SlidingWindowEncoder, dict)
        The encoder (in eval mode) on windows of the exported ``window`` and ``hop``, and
        the ``export.json`` record (see :func:`semisupcon_recipe.exported.load_exported`).

    Example
    -------
    >>> import tempfile
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml", tempfile.mkdtemp())
    >>> sliding, metadata = load_sliding_encoder(exported, max_windows_per_call=2)
    >>> sliding.window, sliding.hop, sliding.max_windows_per_call, metadata["embedding_dim"]
    (8000, 4000, 2, 64)
    """
    from semisupcon_recipe.exported import load_exported
    from semisupcon_recipe.interop.windows import SlidingWindowEncoder

    encoder, metadata = load_exported(folder, device=device, trust_code=trust_code)
    return SlidingWindowEncoder(encoder, metadata["window"], metadata["hop"], max_windows_per_call), metadata


def export_untrained_encoder(hparams_file: str | Path, output_folder: str | Path, overrides: dict | None = None) -> Path:
    """Export the randomly initialised encoder of a pretraining yaml, without training.

    Writes ``encoder_spec.yaml`` and one checkpoint (``save/CKPT+...``) into
    ``output_folder`` as pretraining would, then exports it to ``output_folder/exported``.
    Useful to check that a new encoder yaml exports and loads in s3prl, HEAR and
    SpeechBrain inference before spending time on pretraining (and for examples).

    Parameters
    ----------
    hparams_file : str or Path
        A pretraining yaml.
    output_folder : str or Path
        Where the spec, the checkpoint and the export go.
    overrides : dict, optional
        hyperpyyaml overrides, applied over :data:`UNREAD_MANIFESTS` (the manifests every
        pretraining yaml requires are not read without training).

    Returns
    -------
    Path
        The export folder.

    Example
    -------
    >>> import tempfile
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml", tempfile.mkdtemp())
    >>> sorted(path.name for path in exported.iterdir())
    ['encoder.safetensors', 'export.json', 'hyperparams.yaml']
    """
    from semisupcon_recipe.checkpoints import VerifiedCheckpointer
    from semisupcon_recipe.encoder_spec import load_encoder_spec, write_encoder_spec

    output_folder = Path(output_folder)
    write_encoder_spec(hparams_file, {**UNREAD_MANIFESTS, **dict(overrides or {})}, output_folder)
    encoder = load_encoder_spec(output_folder)["encoder"]
    VerifiedCheckpointer(output_folder / UNTRAINED_CHECKPOINT_FOLDER, {"encoder": encoder}).save_checkpoint()
    return export_checkpoint(output_folder, output_folder / UNTRAINED_EXPORT_FOLDER)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``semisupcon export``."""
    parser.add_argument("checkpoint_dir", help="pretraining output folder, its save/ folder, or one CKPT+ folder")
    parser.add_argument("out_dir", help="export folder to create (hyperparams.yaml, encoder.safetensors, export.json)")
    parser.add_argument("--hop", type=float, default=None, metavar="SECONDS",
                        help=f"{HOP_HELP}; default: half the pretraining clip length, rounded to a whole number of "
                        "16 kHz samples")
    parser.add_argument("--encoder-spec", default=None, metavar="PATH",
                        help="encoder_spec.yaml when it is not in the output folder above the checkpoints")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export in OUT_DIR")
    add_trust_code_argument(parser, "encoder_spec.yaml")


def main(args: argparse.Namespace) -> int:
    """Run ``semisupcon export``; errors follow :mod:`semisupcon_recipe.cli_options`."""
    from semisupcon_recipe.exported import read_export_record

    out = export_checkpoint(args.checkpoint_dir, args.out_dir, args.hop, args.encoder_spec, args.overwrite, args.trust_code)
    record = read_export_record(out)
    print(
        f"exported {record['source_checkpoint']} -> {out} "
        f"(sample_rate {record['sample_rate']}, window {record['window']} samples, "
        f"hop {record['hop'] / record['sample_rate']:g} s = {record['hop']} samples, "
        f"embedding_dim {record['embedding_dim']})"
    )
    return 0
