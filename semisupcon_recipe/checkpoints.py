"""Encoder checkpoints: saved verifiably, chosen one way, loaded without running code.

Saving
    :class:`VerifiedCheckpointer` is SpeechBrain's ``Checkpointer`` plus a record of
    each checkpoint: after SpeechBrain has written ``CKPT.yaml`` and every recoverable,
    ``CHECKSUMS.json`` (the sha256 of every file and the checkpoint's meta) is written
    last, atomically. A checkpoint without it was interrupted while saving (a kill, a
    full disk); one whose files no longer match it was truncated or modified on disk.

Choosing
    :meth:`VerifiedCheckpointer.list_checkpoints` returns only complete, verified
    checkpoints and logs a warning naming every other one and why, so SpeechBrain's
    ``recover_if_possible`` (resume), ``find_checkpoint`` and ``delete_checkpoints``
    fall back to the newest complete checkpoint. :func:`find_checkpoint` chooses the
    checkpoint of a run folder for export and probing: the lowest validation ``loss``
    when any checkpoint recorded one, else the most recent.

Loading
    :func:`load_encoder_from_checkpoint` rebuilds an encoder from its plain-data
    description (:mod:`semisupcon_recipe.encoder_spec`, found by
    :func:`find_encoder_spec`) and loads verified weights, from a run folder or from a
    folder written by ``semisupcon export`` (:func:`semisupcon_recipe.exported.load_exported`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from speechbrain.utils.checkpoints import CKPT_PREFIX, METAFNAME, Checkpoint, Checkpointer

from semisupcon_recipe.encoder_spec import SPEC_FILE, load_encoder_spec
from semisupcon_recipe.files import atomic_write_text

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

CHECKSUMS_FILE = "CHECKSUMS.json"
CHECKSUMS_FORMAT = "semisupcon-checkpoint-checksums"
ENCODER_CHECKPOINT_NAME = "encoder.ckpt"
VALID_LOSS_KEY = "loss"
LOSS_KEYS = (VALID_LOSS_KEY, "valid_loss")  # the validation loss in our checkpoints' meta, in SpeechBrain's SSL recipes'


class CheckpointError(RuntimeError):
    """A checkpoint or export folder cannot be used; the message names the file and the fix."""


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


def record_checksums(checkpoint: Checkpoint) -> Path:
    """Write ``CHECKSUMS.json`` into a saved checkpoint: the sha256 of each of its files and its meta.

    Example
    -------
    >>> import tempfile, torch
    >>> checkpoint = Checkpointer(tempfile.mkdtemp(), {"layer": torch.nn.Linear(1, 1)}).save_checkpoint(meta={"loss": 1.0})
    >>> record = json.loads(record_checksums(checkpoint).read_text())
    >>> sorted(record["files"]), record["meta"]["loss"]
    (['CKPT.yaml', 'layer.ckpt'], 1.0)
    """
    files = {
        path.name: sha256_of(path)
        for path in sorted(Path(checkpoint.path).iterdir())
        if path.is_file() and path.name != CHECKSUMS_FILE
    }
    record = {"format": CHECKSUMS_FORMAT, "meta": dict(checkpoint.meta), "files": files}
    path = Path(checkpoint.path) / CHECKSUMS_FILE
    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


def checksum_problem(folder: str | Path) -> str | None:
    """Why the checkpoint ``folder`` cannot be trusted, or None when every file matches its record.

    Example
    -------
    >>> import tempfile, torch
    >>> save = Path(tempfile.mkdtemp())
    >>> checkpoint = VerifiedCheckpointer(save, {"layer": torch.nn.Linear(1, 1)}).save_checkpoint()
    >>> checksum_problem(checkpoint.path) is None
    True
    >>> _ = (checkpoint.path / "layer.ckpt").write_bytes(b"truncated")
    >>> checksum_problem(checkpoint.path).split("/")[-1]
    'layer.ckpt does not match the sha256 recorded when the checkpoint was saved (truncated or modified)'
    """
    folder = Path(folder)
    record_path = folder / CHECKSUMS_FILE
    if not record_path.is_file():
        return f"{record_path} is missing: the save was interrupted (killed, disk full) or the checkpoint was not written by a VerifiedCheckpointer"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        files = dict(record["files"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        return f"{record_path} is unreadable ({error})"
    if record.get("format") != CHECKSUMS_FORMAT or METAFNAME not in files:
        return f"{record_path} is not a {CHECKSUMS_FORMAT} record"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if sha256_of(path) != expected:
            return f"{path} does not match the sha256 recorded when the checkpoint was saved (truncated or modified)"
    return None


def verified_checkpoint(folder: str | Path) -> Checkpoint:
    """The SpeechBrain ``Checkpoint`` of one verified ``CKPT+`` folder (meta from its record).

    Raises
    ------
    CheckpointError
        The folder is incomplete or was modified (see :func:`checksum_problem`).

    Example
    -------
    >>> import tempfile, torch
    >>> saved = VerifiedCheckpointer(tempfile.mkdtemp(), {"layer": torch.nn.Linear(1, 1)}).save_checkpoint(meta={"loss": 1.0})
    >>> checkpoint = verified_checkpoint(saved.path)
    >>> checkpoint.meta["loss"], sorted(checkpoint.paramfiles)
    (1.0, ['layer'])
    """
    folder = Path(folder)
    problem = checksum_problem(folder)
    if problem is not None:
        raise CheckpointError(f"checkpoint {folder} is refused: {problem}")
    record = json.loads((folder / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    paramfiles = {Path(name).stem: folder / name for name in record["files"] if name.endswith(".ckpt")}
    return Checkpoint(folder, record["meta"], paramfiles)


class VerifiedCheckpointer(Checkpointer):
    """SpeechBrain's ``Checkpointer`` that records checksums and lists only verified checkpoints.

    A drop-in replacement in recipe yaml (``checkpointer: !new:semisupcon_recipe.checkpoints.VerifiedCheckpointer``).
    Skipped checkpoints are in ``skipped`` (folder -> reason) and logged once each; they
    are left on disk for inspection (``delete_checkpoints`` only sees verified ones).
    Resuming falls back to the newest complete checkpoint and refuses to start over when
    checkpoints exist but none is complete.

    Example
    -------
    >>> import tempfile, torch
    >>> save = Path(tempfile.mkdtemp())
    >>> checkpointer = VerifiedCheckpointer(save, {"layer": torch.nn.Linear(1, 1)})
    >>> good = checkpointer.save_checkpoint(meta={"step": 1})
    >>> broken = checkpointer.save_checkpoint(meta={"step": 2})
    >>> (broken.path / CHECKSUMS_FILE).unlink()  # as if killed before the save finished
    >>> checkpointer.find_checkpoint().meta["step"], list(checkpointer.skipped) == [broken.path]
    (1, True)
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.skipped: dict[Path, str] = {}

    def save_checkpoint(self, *args, **kwargs) -> Checkpoint | None:
        """SpeechBrain's save, then ``CHECKSUMS.json`` (main process; others return None).

        Every process waits until the checksums exist: ``save_and_keep_only`` then lists
        the checkpoints on every process, and they must all see the new one as complete
        (a process that did not would skip SpeechBrain's collective deletion calls and
        leave the others waiting for ever).
        """
        from speechbrain.utils.distributed import ddp_barrier

        checkpoint = super().save_checkpoint(*args, **kwargs)
        if checkpoint is not None:
            record_checksums(checkpoint)
        ddp_barrier()
        return checkpoint

    def recover_if_possible(self, *args, **kwargs) -> Checkpoint | None:
        """SpeechBrain's resume from the chosen verified checkpoint; refuses to start over
        silently when checkpoints exist but none is complete."""
        checkpoint = super().recover_if_possible(*args, **kwargs)
        if checkpoint is None and self.skipped:
            raise CheckpointError(
                f"no complete checkpoint to resume from in {self.checkpoints_dir}: "
                + "; ".join(self.skipped.values())
                + ". Restore the files, or delete those folders to start the run over"
            )
        return checkpoint

    def list_checkpoints(self) -> list[Checkpoint]:
        """Complete, verified checkpoints; a warning names each skipped one."""
        checkpoints = []
        for folder in sorted(self.checkpoints_dir.glob(f"{CKPT_PREFIX}*")):
            if not folder.is_dir():
                continue
            try:
                checkpoints.append(verified_checkpoint(folder))
            except CheckpointError as error:
                if folder not in self.skipped:
                    logger.warning("%s; using the newest complete checkpoint instead", error)
                self.skipped[folder] = str(error)
        return checkpoints


def find_checkpoint(path: str | Path, verified: bool = True) -> Checkpoint:
    """The verified checkpoint that ``path`` designates.

    Parameters
    ----------
    path : str or Path
        One ``CKPT+`` folder (or its ``encoder.ckpt``), a ``save`` folder, or a
        pretraining output folder (its ``save/``). Among several checkpoints: the one
        with the lowest validation loss (``loss``, or ``valid_loss`` as SpeechBrain's SSL
        recipes record it) when any recorded one, else the most recent; incomplete or
        modified checkpoints are skipped with a warning.
    verified : bool
        False for runs of SpeechBrain's own recipes, which save no checksums: any
        checkpoint SpeechBrain lists is taken as it is.

    Raises
    ------
    CheckpointError
        No complete checkpoint there; the message says what was found.

    Example
    -------
    >>> import tempfile, torch
    >>> save = Path(tempfile.mkdtemp()) / "save"
    >>> checkpointer = VerifiedCheckpointer(save, {"encoder": torch.nn.Linear(1, 1)})
    >>> first = checkpointer.save_checkpoint(meta={"loss": 0.5}).path
    >>> second = checkpointer.save_checkpoint(meta={"loss": 0.9}).path
    >>> find_checkpoint(save.parent).path == first, find_checkpoint(second).path == second
    (True, True)
    """
    folder = Path(path)
    if folder.is_file() and folder.parent.name.startswith(CKPT_PREFIX):
        folder = folder.parent
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder} is not a folder: pass a pretraining output folder, its save/ folder or one {CKPT_PREFIX}+ folder"
        )
    if folder.name.startswith(CKPT_PREFIX):
        return verified_checkpoint(folder) if verified else _listed_checkpoint(folder)
    skipped: dict[Path, str] = {}
    for save_dir in (folder, folder / "save"):
        if not save_dir.is_dir():
            continue
        checkpointer = VerifiedCheckpointer(save_dir) if verified else Checkpointer(save_dir)
        best = next(filter(None, (checkpointer.find_checkpoint(min_key=key) for key in LOSS_KEYS)), None)
        best = best or checkpointer.find_checkpoint()
        if best is not None:
            return best
        skipped.update(getattr(checkpointer, "skipped", {}))
    found = "; ".join(skipped.values()) if skipped else "none found"
    raise CheckpointError(
        f"no complete checkpoint ({CKPT_PREFIX}+*) in {folder} or {folder / 'save'} ({found}); "
        "pass a pretraining output folder, its save/ folder or one CKPT+ folder of a run that saved a checkpoint"
    )


def _listed_checkpoint(folder: Path) -> Checkpoint:
    """The checkpoint in ``folder`` (a ``CKPT+`` folder) as SpeechBrain's Checkpointer lists it."""
    listed = [checkpoint for checkpoint in Checkpointer(folder.parent).list_checkpoints() if checkpoint.path == folder]
    if not listed:
        raise CheckpointError(f"{folder} is not a SpeechBrain checkpoint (it has no {METAFNAME})")
    return listed[0]


def encoder_weights(checkpoint: Checkpoint) -> Path:
    """``encoder.ckpt`` of a checkpoint, or a CheckpointError saying the recipe must save it.

    Example
    -------
    >>> import tempfile, torch
    >>> saved = VerifiedCheckpointer(tempfile.mkdtemp(), {"encoder": torch.nn.Linear(1, 1)}).save_checkpoint()
    >>> encoder_weights(saved).name
    'encoder.ckpt'
    """
    weights = checkpoint.paramfiles.get(Path(ENCODER_CHECKPOINT_NAME).stem)
    if weights is None:
        raise CheckpointError(
            f"{checkpoint.path} holds no {ENCODER_CHECKPOINT_NAME}: the recipe must list `encoder` among the checkpointer's recoverables"
        )
    return Path(weights)


def find_encoder_spec(checkpoint: Checkpoint) -> Path:
    """``encoder_spec.yaml`` of a checkpoint: in the pretraining output folder above its save/ folder.

    Example
    -------
    >>> import tempfile, torch
    >>> run = Path(tempfile.mkdtemp())
    >>> checkpoint = VerifiedCheckpointer(run / "save", {"encoder": torch.nn.Linear(1, 1)}).save_checkpoint()
    >>> _ = (run / SPEC_FILE).write_text("sample_rate: 16000")
    >>> find_encoder_spec(checkpoint) == run / SPEC_FILE
    True
    """
    folder = Path(checkpoint.path)
    for candidate in (folder.parent.parent, folder.parent):
        if (candidate / SPEC_FILE).is_file():
            return candidate / SPEC_FILE
    raise CheckpointError(
        f"{SPEC_FILE} not found next to {folder.parent} (pretraining writes it into its output folder); "
        "pass its path explicitly (--encoder-spec)"
    )


def load_pretrained_encoder(encoder: torch.nn.Module, path: str | Path, pretrainer: object | None = None) -> Path:
    """Load the weights of a verified checkpoint into ``encoder`` with SpeechBrain's ``Pretrainer``.

    Parameters
    ----------
    encoder : torch.nn.Module
        The encoder built from yaml.
    path : str or Path
        Anything :func:`find_checkpoint` accepts.
    pretrainer : speechbrain.utils.parameter_transfer.Pretrainer, optional
        A pretrainer whose loadables include ``encoder``; a new one is made if omitted.

    Returns
    -------
    Path
        The weights file that was loaded.

    Example
    -------
    >>> import tempfile, torch
    >>> source, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    >>> save = Path(tempfile.mkdtemp())
    >>> _ = VerifiedCheckpointer(save, {"encoder": source}).save_checkpoint()
    >>> _ = load_pretrained_encoder(target, save)
    >>> torch.equal(source.weight, target.weight)
    True
    """
    from speechbrain.utils.parameter_transfer import Pretrainer

    weights = encoder_weights(find_checkpoint(path))
    if pretrainer is None:
        pretrainer = Pretrainer(loadables={"encoder": encoder})
    pretrainer.add_paths({"encoder": str(weights.resolve())})
    pretrainer.collect_files()
    pretrainer.load_collected()
    logger.info("loaded encoder weights from %s", weights)
    return weights


@dataclass
class LoadedEncoder:
    """A pretrained encoder rebuilt from its description, with where it came from."""

    module: torch.nn.Module
    weights: Path
    spec: Path
    clip_len: int


def load_encoder_from_checkpoint(path: str | Path, spec: str | Path | None = None, trust_code: bool = False) -> LoadedEncoder:
    """Rebuild a pretrained encoder and load its verified weights, from a run or an export.

    Parameters
    ----------
    path : str or Path
        A folder written by ``semisupcon export`` (see
        :func:`semisupcon_recipe.exported.load_exported`), or anything
        :func:`find_checkpoint` accepts (the encoder is then rebuilt from
        ``encoder_spec.yaml`` and its checksum-verified ``encoder.ckpt`` loaded).
    spec : str or Path, optional
        The ``encoder_spec.yaml`` of a checkpoint; found with :func:`find_encoder_spec`
        if omitted. Not used for an export folder.
    trust_code : bool
        Accept a description naming a class outside the allow-list.

    Returns
    -------
    LoadedEncoder
        ``module`` (weights loaded, eval mode), ``weights`` file, ``spec`` file (the
        export's ``hyperparams.yaml``) and the encoder's ``clip_len`` (its training crop /
        export window, the default chunk length).

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.encoder_spec import write_encoder_spec
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = write_encoder_spec("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                        {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}, run)
    >>> _ = VerifiedCheckpointer(run / "save", {"encoder": load_encoder_spec(run)["encoder"]}).save_checkpoint()
    >>> loaded = load_encoder_from_checkpoint(run)
    >>> loaded.spec.name, loaded.weights.name, loaded.clip_len
    ('encoder_spec.yaml', 'encoder.ckpt', 8000)
    """
    from semisupcon_recipe.exported import MANIFEST_FILE, load_exported

    path = Path(path)
    if (path / MANIFEST_FILE).is_file():
        encoder, record = load_exported(path, trust_code=trust_code)
        return LoadedEncoder(encoder, path / record["weights"], path / record["description"], int(record["window"]))
    checkpoint = find_checkpoint(path)
    weights = encoder_weights(checkpoint)
    spec_path = Path(spec) if spec is not None else find_encoder_spec(checkpoint)
    description = load_encoder_spec(spec_path, trust_code)
    encoder = load_weights(description["encoder"], weights, spec_path)
    return LoadedEncoder(encoder.eval(), weights, spec_path, int(description["clip_len"]))


def load_weights(encoder: torch.nn.Module, weights: Path, spec_path: Path | str) -> torch.nn.Module:
    """Load a checkpoint's ``weights`` file (tensors only, strictly) into ``encoder`` built from ``spec_path``.

    Raises
    ------
    CheckpointError
        The weights do not fit the described encoder (both named; ``spec_path`` may be
        a description such as "the yaml's encoder").

    Example
    -------
    >>> import tempfile, torch
    >>> folder = Path(tempfile.mkdtemp())
    >>> torch.save(torch.nn.Linear(3, 2).state_dict(), folder / "encoder.ckpt")
    >>> try:
    ...     load_weights(torch.nn.Linear(4, 2), folder / "encoder.ckpt", folder / "encoder_spec.yaml")
    ... except CheckpointError as error:
    ...     print(str(error).split(":")[0].endswith("encoder.ckpt does not fit the encoder described by " + str(folder / "encoder_spec.yaml")))
    True
    """
    import torch

    state = torch.load(weights, map_location="cpu", weights_only=True)
    try:
        encoder.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{weights} does not fit the encoder described by {spec_path}: {error}") from error
    logger.info("loaded encoder weights from %s", weights)
    return encoder
