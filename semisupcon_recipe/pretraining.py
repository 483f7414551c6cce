"""The body of every pretraining recipe: data loaders from the yaml, then ``Brain.fit``.

A recipe's ``train.py`` parses the command line, loads its yaml, prepares its
manifests (dataset recipes) and calls :func:`run_pretraining`; everything the method
needs (views, p_s, b_s, DDP slices, augmentation, objective) is configured in the yaml.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import speechbrain as sb
from speechbrain.dataio.dataloader import make_dataloader

from semisupcon_recipe.brains import SemiSupConBrain
from semisupcon_recipe.checkpoints import VerifiedCheckpointer
from semisupcon_recipe.data import collate_views, pretraining_datasets
from semisupcon_recipe.encoder_spec import write_encoder_spec
from semisupcon_recipe.sampling import MixedLabelBatchSampler
from semisupcon_recipe.settings_record import describe_differences, read_record, write_record

SETTINGS_RECORD = "method_settings.json"
LOCK_FILE = "pretraining.lock"
# Settings a rerun may change: how long and how fast it runs, where files are (keys
# ending in _folder or _root), how much it logs. Every other plain yaml value is a
# method setting, recorded at the first run.
RERUN_SETTINGS = (
    "number_of_epochs", "num_workers", "pin_memory", "log_interval", "checkpoints_to_keep", "train_log",
    "compile", "compile_module_keys",  # speed only: a rerun may switch torch.compile on or off
)


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


def dataio_prep(hparams: dict) -> dict:
    """``{"train": (loader, sampler), "valid": (loader, sampler) or None}`` from the yaml.

    Batches hold clips with ``num_views`` views each; under DDP each process gets its
    slice of every global batch (see :class:`MixedLabelBatchSampler`).
    """
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    loaders = {}
    for stage, prefix in (("train", ""), ("valid", "valid_")):
        if stage == "train" and (hparams.get("labeled_shards") or hparams.get("unlabeled_shards")):
            from semisupcon_recipe.shards import shard_loader

            loader = shard_loader(hparams)
            loaders[stage] = (loader, loader.dataset)
            continue
        labeled = hparams[f"{prefix}labeled_manifest"]
        unlabeled = hparams[f"{prefix}unlabeled_manifest"]
        if not (labeled or unlabeled):
            loaders[stage] = None
            continue
        data = pretraining_datasets(
            labeled_manifest=labeled,
            unlabeled_manifest=unlabeled,
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
        )
        loader = make_dataloader(
            data.dataset,
            batch_sampler=sampler,
            collate_fn=collate_views,
            num_workers=hparams["num_workers"],
            pin_memory=hparams["pin_memory"],
        )
        loaders[stage] = (loader, sampler)
    return loaders


def run_pretraining(hparams_file: str, run_opts: dict, overrides: str, hparams: dict) -> SemiSupConBrain:
    """Create the experiment folder, build the loaders and train; returns the Brain.

    The Brain is ``brain_class`` from the yaml when it names one (a
    :class:`SemiSupConBrain` subclass), else :class:`SemiSupConBrain`.

    Writes ``encoder_spec.yaml`` (for export and interop), the label vocabulary, the
    ``p_s`` draw and the method settings (``method_settings.json``) into
    ``output_folder``; rerunning resumes from the newest complete, checksum-verified
    checkpoint (see :mod:`semisupcon_recipe.checkpoints`), and is refused when a method
    setting changed. The main process holds ``pretraining.lock`` in the folder
    for the whole run, so a second run into the same folder is refused.
    """
    if not isinstance(hparams["checkpointer"], VerifiedCheckpointer):
        raise ValueError(
            f"{hparams_file}: `checkpointer` must be !new:semisupcon_recipe.checkpoints.VerifiedCheckpointer "
            "(SpeechBrain's Checkpointer plus checksums, so an interrupted or modified checkpoint is never resumed from)"
        )
    with ExitStack() as stack:
        if sb.utils.distributed.if_main_process():
            stack.enter_context(output_folder_lock(hparams["output_folder"]))
            check_method_settings(hparams["output_folder"], method_settings(hparams), hparams["save_folder"])
        return _pretrain(hparams_file, run_opts, overrides, hparams)


def _pretrain(hparams_file: str, run_opts: dict, overrides: str, hparams: dict) -> SemiSupConBrain:
    """The body of :func:`run_pretraining`, run while the output folder is locked and checked."""
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    sb.utils.distributed.run_on_main(write_encoder_spec, args=[hparams_file, overrides, hparams["output_folder"]])

    # The main process writes the vocabulary and the p_s draw; the others read them back.
    if sb.utils.distributed.if_main_process():
        loaders = dataio_prep(hparams)
    sb.utils.distributed.ddp_barrier()
    if not sb.utils.distributed.if_main_process():
        loaders = dataio_prep(hparams)
    train_loader, train_sampler = loaders["train"]
    valid_loader = loaders["valid"][0] if loaders["valid"] else None
    hparams["valid_manifests_given"] = valid_loader is not None
    hparams["checkpointer"].add_recoverable("dataloader-TRAIN", train_loader)

    brain_class = hparams.get("brain_class", SemiSupConBrain)  # e.g. ssl_mixing.JointSSLBrain
    brain = brain_class(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.train_sampler = train_sampler
    brain.fit(brain.hparams.epoch_counter, train_loader, valid_loader)
    return brain
