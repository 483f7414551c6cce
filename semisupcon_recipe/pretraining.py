"""The body of every pretraining recipe: data loaders from the yaml, then ``Brain.fit``.

A recipe's ``train.py`` parses the command line, loads its yaml, prepares its
manifests (dataset recipes) and calls :func:`run_pretraining`; everything the method
needs (views, p_s, b_s, DDP slices, augmentation, objective) is configured in the yaml.
"""

from __future__ import annotations

import fcntl
import logging
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple

import numpy as np
import speechbrain as sb
import torch
from speechbrain.dataio.dataloader import make_dataloader
from torch.utils.data import DataLoader

from semisupcon_recipe.brains import SemiSupConBrain
from semisupcon_recipe.checkpoints import VerifiedCheckpointer
from semisupcon_recipe.data import PretrainingData, collate_views, pretraining_datasets
from semisupcon_recipe.distributed import main_process_first, rank_and_world_size
from semisupcon_recipe.encoder_spec import write_encoder_spec
from semisupcon_recipe.run_logging import LOG_CONFIG, LOG_FILE, STAGE_LOGGER, record_command_line, restored_logging
from semisupcon_recipe.sampling import LABELED_SAMPLINGS, MixedLabelBatchSampler, label_partners
from semisupcon_recipe.settings_record import describe_differences, read_record, write_record

logger = logging.getLogger(__name__)
stages = logging.getLogger(STAGE_LOGGER)

SETTINGS_RECORD = "method_settings.json"
LOCK_FILE = "pretraining.lock"
# Settings a rerun may change: how long and how fast it runs, where files are (keys
# ending in _folder or _root), how much it logs. Every other plain yaml value is a
# method setting, recorded at the first run.
RERUN_SETTINGS = (
    "number_of_epochs", "num_workers", "pin_memory", "log_interval", "checkpoints_to_keep", "train_log",
    "compile", "compile_module_keys",  # speed only: a rerun may switch torch.compile on or off
)


# Method settings added to the yaml after runs were recorded, with the value that gives
# the behaviour of those runs: a record without the key resumes with that value.
SETTINGS_ADDED_LATER = {
    "labeled_sampling": "uniform", "label_weight": 1.0, "objective.label_weight": 1.0,
    "label_dims": None, "objective.label_dims": None,
}


class OutputFolderError(RuntimeError):
    """The output folder is in use by another run, or holds a run with other settings."""


def method_settings(hparams: Mapping) -> dict:
    """The plain values of the loaded yaml (nested ones as ``block.key``), less :data:`RERUN_SETTINGS`.

    Example
    -------
    >>> method_settings({"seed": 1, "number_of_epochs": 9, "output_folder": "r", "data_root": ".",
    ...                  "objective": {"temperature": 0.1, "loss": object()}, "channels": [16, 32]})
    {'seed': 1, 'objective.temperature': 0.1, 'channels': [16, 32]}
    """
    plain = (bool, int, float, str, type(None))
    settings = {}
    for key, value in hparams.items():
        if key.startswith("__") or key in RERUN_SETTINGS or key.endswith(("_folder", "_root")):
            continue
        if isinstance(value, Mapping):
            settings.update({f"{key}.{name}": item for name, item in method_settings(value).items()})
        elif isinstance(value, plain):
            settings[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(item, plain) for item in value):
            settings[key] = list(value)
    return settings


def check_method_settings(output_folder: str | Path, settings: Mapping, save_folder: str | Path) -> None:
    """Record the method settings of a new run; refuse a rerun whose settings differ.

    A rerun resumes from the checkpoints and keeps the recorded ``p_s`` draw and label
    vocabulary, so a changed method setting would be silently ignored.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_method_settings(folder, {"labeled_data_fraction": 0.05}, folder / "save")
    >>> try:
    ...     check_method_settings(folder, {"labeled_data_fraction": 0.5}, folder / "save")
    ... except OutputFolderError as error:
    ...     print(str(error).split("(")[1].split(")")[0])
    labeled_data_fraction: 0.05 there, 0.5 asked

    A record made before ``labeled_sampling`` existed resumes with ``uniform``, which is what it did:

    >>> check_method_settings(folder, {"labeled_data_fraction": 0.05, "labeled_sampling": "uniform"}, folder / "save")
    """
    output_folder = Path(output_folder)
    record = output_folder / SETTINGS_RECORD
    found = read_record(record)
    if found is None:
        started = [path.name for path in (output_folder / "labeled_subset.txt", output_folder / "label_vocabulary.json") if path.is_file()]
        if started or next(Path(save_folder).glob("CKPT+*"), None) is not None:
            raise OutputFolderError(
                f"{output_folder} holds a pretraining without a {SETTINGS_RECORD} (started by an older version): "
                f"its settings cannot be checked; pass another --output_folder, or delete {output_folder} to start again"
            )
        write_record(record, settings)
        return
    found = {**{key: value for key, value in SETTINGS_ADDED_LATER.items() if key in settings}, **found}
    details = describe_differences(found, settings)
    if details:
        raise OutputFolderError(
            f"{output_folder} holds a pretraining started with other method settings ({details}); a rerun resumes "
            f"that run and would ignore the change. Rerun with the recorded settings ({record}) to resume, or pass "
            f"another --output_folder (or delete {output_folder}) to train with the new ones"
        )


@contextmanager
def output_folder_lock(output_folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``output_folder`` for a run; refuse if another run holds it.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with output_folder_lock(folder):
    ...     try:
    ...         with output_folder_lock(folder):
    ...             pass
    ...     except OutputFolderError as error:
    ...         print("another pretraining" in str(error))
    True
    """
    path = Path(output_folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise OutputFolderError(
                f"another pretraining (process {holder}) is running into {output_folder} (it holds {path}); "
                f"wait for it to finish, or pass another --output_folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class PretrainingLoaders(NamedTuple):
    """The data loaders of a pretraining run (see :func:`dataio_prep`)."""

    train: DataLoader
    train_sampler: MixedLabelBatchSampler | None  # its set_epoch is called every epoch (None for shards)
    valid: DataLoader | None


def dataio_prep(hparams: Mapping) -> PretrainingLoaders:
    """The training loader (from manifests or shards) and the validation loader (or None) of the yaml.

    Batches hold clips with ``num_views`` views each; under DDP each process gets its
    slice of every global batch (see :class:`MixedLabelBatchSampler`). The first call
    writes the label vocabulary and the ``p_s`` draw into ``output_folder``; later calls
    (the other processes, a rerun) read them back.
    """
    rank, world_size = rank_and_world_size()
    if hparams.get("labeled_shards") or hparams.get("unlabeled_shards"):
        from semisupcon_recipe.shards import shard_loader

        if hparams.get("labeled_sampling", "uniform") != "uniform":
            raise ValueError("labeled_sampling: pairs needs the manifests (shards are streamed in order); set it to uniform")

        train, train_sampler = shard_loader(hparams, rank, world_size), None
    else:
        train, train_sampler = _manifest_loader(hparams, "train", rank, world_size)
    valid = _manifest_loader(hparams, "valid", rank, world_size) if _has_validation(hparams) else None
    return PretrainingLoaders(train, train_sampler, valid[0] if valid else None)


def _has_validation(hparams: Mapping) -> bool:
    return bool(hparams["valid_labeled_manifest"] or hparams["valid_unlabeled_manifest"])


def _manifest_loader(hparams: Mapping, stage: str, rank: int, world_size: int) -> tuple[DataLoader, MixedLabelBatchSampler]:
    """The loader of ``stage`` ("train" or "valid") from its manifests, and its batch sampler."""
    prefix = "" if stage == "train" else "valid_"
    data = pretraining_datasets(
        labeled_manifest=hparams[f"{prefix}labeled_manifest"],
        unlabeled_manifest=hparams[f"{prefix}unlabeled_manifest"],
        supervision=hparams["supervision"],
        reader=hparams["view_reader"],
        epoch_seed=hparams[f"{stage}_epoch_seed"],
        output_folder=hparams["output_folder"],
        labeled_data_fraction=hparams["labeled_data_fraction"] if stage == "train" else 1.0,
        seed=hparams["seed"],
        replacements={"data_root": hparams["data_root"]},
        label_names_file=hparams.get("label_names_file"),
        record_subset=stage == "train",
    )
    labeled_share = hparams["labeled_share"]
    if stage == "valid" and not (data.labeled_indices and data.unlabeled_indices):
        # Held-out data with one pool only: every validation batch comes from it.
        labeled_share = 1.0 if data.labeled_indices else 0.0
    sampler = MixedLabelBatchSampler(
        data.labeled_indices,
        data.unlabeled_indices,
        batch_size=hparams["batch_size"],
        labeled_share=labeled_share,
        seed=hparams["seed"],
        batches_per_epoch=hparams["batches_per_epoch"] if stage == "train" else hparams["valid_batches"],
        num_replicas=world_size,
        rank=rank,
        labeled_partners=_labeled_partners(hparams, data) if stage == "train" else None,
    )
    loader = make_dataloader(
        data.dataset,
        batch_sampler=sampler,
        collate_fn=collate_views,
        num_workers=hparams["num_workers"],
        pin_memory=hparams["pin_memory"],
    )
    return loader, sampler


def _labeled_partners(hparams: Mapping, data: PretrainingData) -> list[np.ndarray] | None:
    """Each labeled clip's positives under the objective's label similarity, for ``labeled_sampling: pairs``."""
    sampling = hparams.get("labeled_sampling", "uniform")  # yaml written before the option: uniform
    if sampling not in LABELED_SAMPLINGS:
        raise ValueError(f"labeled_sampling: {sampling!r} is not one of {LABELED_SAMPLINGS}")
    if sampling == "uniform" or not data.labeled_labels:
        return None
    similarity = getattr(hparams.get("loss"), "label_similarity", None)
    if similarity is None:
        raise ValueError("labeled_sampling: pairs needs the yaml's `loss` to be a SemiSupConLoss (its label similarity picks the pairs)")
    partners = label_partners(torch.stack(data.labeled_labels), similarity)  # labels (L,) or (L, C)
    alone = sum(len(row) == 0 for row in partners)
    logger.info("labeled_sampling: pairs; %d of %d labeled clips have no positive to pair with", alone, len(partners))
    return partners


def run_pretraining(
    hparams_file: str, run_opts: dict, overrides: str | dict, hparams: dict, command: str | None = None
) -> SemiSupConBrain:
    """Pretrain as the yaml says (the body of every pretraining recipe); returns the Brain.

    The steps of SpeechBrain's recipe template, in order: lock ``output_folder`` and
    check the method settings against the recorded ones (a rerun resumes, so a changed
    setting is refused: :func:`check_method_settings`); create the experiment folder
    (``hyperparams.yaml``, ``log.txt`` as :mod:`~semisupcon_recipe.run_logging` sets
    it, ``command.txt``); write ``encoder_spec.yaml`` (for export and probing); build
    the loaders (:func:`dataio_prep`); build the Brain (the yaml's ``brain_class``, a
    :class:`SemiSupConBrain` subclass, else :class:`SemiSupConBrain`) and fit it.
    Rerunning resumes from the newest complete, checksum-verified checkpoint (see
    :mod:`semisupcon_recipe.checkpoints`). ``command`` is the command line recorded in
    ``command.txt`` (default: this process's, right for a recipe script; a program that
    pretrains in its own process passes the equivalent recipe command).
    """
    if not isinstance(hparams["checkpointer"], VerifiedCheckpointer):
        raise ValueError(
            f"{hparams_file}: `checkpointer` must be !new:semisupcon_recipe.checkpoints.VerifiedCheckpointer "
            "(SpeechBrain's Checkpointer plus checksums, so an interrupted or modified checkpoint is never resumed from)"
        )
    output_folder = hparams["output_folder"]
    with ExitStack() as stack:
        if sb.utils.distributed.if_main_process():
            stack.enter_context(output_folder_lock(output_folder))
            check_method_settings(output_folder, method_settings(hparams), hparams["save_folder"])
        stack.enter_context(restored_logging())  # the log goes to output_folder until the run ends
        sb.create_experiment_directory(output_folder, hparams_file, overrides, log_config=LOG_CONFIG)
        sb.utils.distributed.run_on_main(record_command_line, args=[output_folder, command])
        sb.utils.distributed.run_on_main(write_encoder_spec, args=[hparams_file, overrides, output_folder])
        loaders = main_process_first(dataio_prep, hparams)
        hparams["checkpointer"].add_recoverable("dataloader-TRAIN", loaders.train)
        brain_class = hparams.get("brain_class", SemiSupConBrain)  # e.g. ssl_mixing.JointSSLBrain
        brain = brain_class(
            modules=hparams["modules"],
            opt_class=hparams["opt_class"],
            hparams=hparams,
            run_opts=run_opts,
            checkpointer=hparams["checkpointer"],
            train_sampler=loaders.train_sampler,
        )
        stages.info("pretraining into %s (full log: %s)", output_folder, Path(output_folder) / LOG_FILE)
        brain.fit(hparams["epoch_counter"], loaders.train, loaders.valid)
        stages.info("pretraining done: %s", output_folder)
    return brain
