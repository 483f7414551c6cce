#!/usr/bin/env python3
"""Pretrain a music encoder with SemiSupCon on any labeled + unlabeled manifests.

The three corners of the method differ only in the yaml (b_s = ``labeled_share``):

    python recipes/Generic/pretrain/train.py recipes/Generic/pretrain/hparams/semisupcon.yaml \
        --labeled_manifest labeled.csv --unlabeled_manifest unlabeled.csv
    python recipes/Generic/pretrain/train.py recipes/Generic/pretrain/hparams/ssl.yaml ...
    python recipes/Generic/pretrain/train.py recipes/Generic/pretrain/hparams/supervised.yaml ...

Multi-GPU (negatives from the global batch; ``batch_size`` is per process):

    torchrun --nproc_per_node=4 recipes/Generic/pretrain/train.py hparams/semisupcon.yaml \
        --precision=bf16 ...

On CPU add ``--distributed_backend=gloo``. Manifests are SpeechBrain CSVs
(``ID,duration,wav,labels``, see DESIGN.md); the label vocabulary, the drawn ``p_s``
subset and the checkpoints go to ``output_folder``; rerunning the command resumes.
"""

import os
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.dataloader import make_dataloader

from semisupcon_recipe.brains import SemiSupConBrain
from semisupcon_recipe.data import collate_views, pretraining_datasets
from semisupcon_recipe.encoder_spec import write_encoder_spec
from semisupcon_recipe.sampling import MixedLabelBatchSampler


def dataio_prep(hparams):
    """Training and validation loaders of clips with ``num_views`` views each."""
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
        )
        sampler = MixedLabelBatchSampler(
            data.labeled_indices,
            data.unlabeled_indices,
            batch_size=hparams["batch_size"],
            labeled_share=hparams["labeled_share"],
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


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
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


if __name__ == "__main__":
    main()
