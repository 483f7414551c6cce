#!/usr/bin/env python3
"""A SpeechBrain classification recipe with the SemiSupCon objective and sampler added.

    python docs/examples/mixing/train.py docs/examples/mixing/hparams.yaml \
        --labeled_manifest labeled.csv --unlabeled_manifest unlabeled.csv

The lines marked "SemiSupCon" are all it takes (docs/mixing.md).
"""

import sys

import speechbrain as sb
import torch.nn.functional as F
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.dataloader import make_dataloader

from semisupcon_recipe.brains import view_targets
from semisupcon_recipe.data import collate_views, pretraining_datasets
from semisupcon_recipe.sampling import MixedLabelBatchSampler


class ClassifierBrain(sb.Brain):
    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        num_clips, num_views, length = batch.views.shape  # SemiSupCon: N views per clip
        return self.modules.encoder(batch.views.reshape(num_clips * num_views, length))  # (V, D), clip-major

    def compute_objectives(self, embeddings, batch, stage):
        clip_ids, labels, labeled = view_targets(batch, self.device)  # SemiSupCon: (V,) each
        loss = embeddings.new_zeros(())
        if labeled.any():  # the recipe's own objective: cross-entropy on the labeled views
            loss = loss + F.cross_entropy(self.modules.classifier(embeddings[labeled]), labels[labeled])
        projections = self.modules.projector(embeddings)  # SemiSupCon: (V, P)
        return loss + self.hparams.semisupcon_weight * self.hparams.semisupcon_loss(projections, clip_ids, labels, labeled)

    def on_stage_start(self, stage, epoch=None):
        if stage == sb.Stage.TRAIN and epoch is not None:
            self.hparams.epoch_seed.epoch = epoch  # SemiSupCon: new views every epoch

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.hparams.train_logger.log_stats({"epoch": epoch}, train_stats={"loss": stage_loss})
            self.checkpointer.save_and_keep_only(meta={"train_loss": stage_loss}, min_keys=["train_loss"])


def dataio_prep(hparams):
    """SemiSupCon: multi-view clips of both manifests, batches of b_s labeled clips."""
    data = pretraining_datasets(
        labeled_manifest=hparams["labeled_manifest"],
        unlabeled_manifest=hparams["unlabeled_manifest"],
        supervision=hparams["supervision"],
        reader=hparams["view_reader"],
        epoch_seed=hparams["epoch_seed"],
        output_folder=hparams["output_folder"],
        labeled_data_fraction=hparams["labeled_data_fraction"],
        seed=hparams["seed"],
    )
    sampler = MixedLabelBatchSampler(
        data.labeled_indices, data.unlabeled_indices, batch_size=hparams["batch_size"],
        labeled_share=hparams["labeled_share"], seed=hparams["seed"],
    )
    return make_dataloader(data.dataset, batch_sampler=sampler, collate_fn=collate_views)


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(hparams["output_folder"], hyperparams_to_save=hparams_file, overrides=overrides)
    train_loader = dataio_prep(hparams)
    brain = ClassifierBrain(hparams["modules"], hparams["opt_class"], hparams, run_opts, hparams["checkpointer"])
    brain.train_sampler = train_loader.batch_sampler  # SemiSupCon: SpeechBrain's hook to call set_epoch on a recipe's own sampler
    brain.fit(hparams["epoch_counter"], train_loader)
