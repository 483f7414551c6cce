"""The body of every pretraining recipe: data loaders from the yaml, then ``Brain.fit``.

A recipe's ``train.py`` parses the command line, loads its yaml, prepares its
manifests (dataset recipes) and calls :func:`run_pretraining`; everything the method
needs (views, p_s, b_s, DDP slices, augmentation, objective) is configured in the yaml.
"""

from __future__ import annotations

import os

import speechbrain as sb
from speechbrain.dataio.dataloader import make_dataloader

from semisupcon_recipe.brains import SemiSupConBrain
from semisupcon_recipe.checkpoints import VerifiedCheckpointer
from semisupcon_recipe.data import collate_views, pretraining_datasets
from semisupcon_recipe.encoder_spec import write_encoder_spec
from semisupcon_recipe.sampling import MixedLabelBatchSampler


def dataio_prep(hparams: dict) -> dict:
    """``{"train": (loader, sampler), "valid": (loader, sampler) or None}`` from the yaml.

    Batches hold clips with ``num_views`` views each; under DDP each process gets its
    slice of every global batch (see :class:`MixedLabelBatchSampler`).
    """
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    loaders = {}
    for stage, prefix in (("train", ""), ("valid", "valid_")):
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

    Writes ``encoder_spec.yaml`` (for export and interop), the label vocabulary and
    the ``p_s`` draw into ``output_folder``; rerunning resumes from the newest complete,
    checksum-verified checkpoint (see :mod:`semisupcon_recipe.checkpoints`).
    """
    if not isinstance(hparams["checkpointer"], VerifiedCheckpointer):
        raise ValueError(
            f"{hparams_file}: `checkpointer` must be !new:semisupcon_recipe.checkpoints.VerifiedCheckpointer "
            "(SpeechBrain's Checkpointer plus checksums, so an interrupted or modified checkpoint is never resumed from)"
        )
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

    brain = SemiSupConBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.train_sampler = train_sampler
    brain.fit(brain.hparams.epoch_counter, train_loader, valid_loader)
    return brain
