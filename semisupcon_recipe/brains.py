"""SemiSupConBrain: SpeechBrain training of an encoder with the SemiSupCon objective.

``compute_forward`` flattens the batch of clips ``(B, N, L)`` into clip-major views
``(B*N, L)``, augments them (on the training device, when the yaml gives an
``augment`` module), encodes and projects them; ``compute_objectives`` builds clip ids
and per-view labels and calls the objective. Everything else (mixed precision, DDP,
checkpoints, resuming mid-epoch, optimizer-step limits) is SpeechBrain's.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import speechbrain as sb
import torch
import torch.distributed as dist

from semisupcon_recipe.data import ViewBatch

logger = logging.getLogger(__name__)

STATISTICS = ("loss_labeled", "loss_unlabeled", "positives_self", "positives_label", "labeled_fraction")


class SemiSupConBrain(sb.Brain):
    """Brain for SemiSupCon pretraining (SSL-only, mixed and supervised-only alike).

    Expected ``modules``: ``encoder`` and ``projector``. Expected ``hparams``:
    ``loss`` (a :class:`~semisupcon_recipe.objectives.SemiSupConLoss`), ``train_logger``,
    ``epoch_counter``, ``train_epoch_seed`` (an :class:`~semisupcon_recipe.data.EpochSeed`),
    ``log_interval`` (optimizer steps between loss lines in the log; the first step is
    always logged) and optional ``augment`` (applied to training views on the device).
    """

    def on_fit_batch_end(self, batch: ViewBatch, outputs: torch.Tensor, loss: torch.Tensor, should_step: bool) -> None:
        """Log the global-batch loss of the first step and every ``log_interval`` steps."""
        step = self.optimizer_step
        if not should_step or not (step == 1 or step % self.hparams.log_interval == 0):
            return
        loss = loss.detach().float().clone()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(loss)  # per-rank losses average to the global-batch loss
            loss /= dist.get_world_size()
        if sb.utils.distributed.if_main_process():
            logger.info("optimizer step %d: loss %.6f", step, loss.item())

    def compute_forward(self, batch: ViewBatch, stage: sb.Stage) -> torch.Tensor:
        """Projections ``(B*N, P)`` of the clip-major views of ``batch``."""
        batch = batch.to(self.device)
        num_clips, num_views, length = batch.views.shape
        waveforms = batch.views.reshape(num_clips * num_views, length)  # (V, L), clip-major
        augment = getattr(self.hparams, "augment", None)
        if stage == sb.Stage.TRAIN and augment is not None:
            waveforms = augment(waveforms, generator=self._augment_generator())  # (V, L)
        embeddings = self.modules.encoder(waveforms)  # (V, D)
        return self.modules.projector(embeddings)  # (V, P)

    def _augment_generator(self) -> torch.Generator:
        """Randomness of this step's augmentations, from (seed, epoch, step, rank) alone,
        so a resumed run draws what the interrupted one would have drawn."""
        epoch_seed = self.hparams.train_epoch_seed
        entropy = [epoch_seed.seed, epoch_seed.epoch, self.step, int(os.environ.get("RANK", 0))]
        seed = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)
        return torch.Generator(device=self.device).manual_seed(seed)

    def compute_objectives(self, projections: torch.Tensor, batch: ViewBatch, stage: sb.Stage) -> torch.Tensor:
        """The SemiSupCon loss of one batch; accumulates its statistics for the log."""
        num_clips, num_views = batch.views.shape[:2]  # the views themselves were moved by compute_forward
        clip_ids = torch.arange(num_clips, device=self.device).repeat_interleave(num_views)  # (V,)
        labels = batch.labels.to(self.device).repeat_interleave(num_views, dim=0)  # (V,) or (V, C)
        labeled = batch.labeled.to(self.device).repeat_interleave(num_views)  # (V,)
        loss = self.hparams.loss(projections.float(), clip_ids, labels, labeled, statistics=self._logs_statistics(stage))
        self._accumulate(self.hparams.loss.last_statistics, len(batch.skipped))
        return loss

    def _logs_statistics(self, stage: sb.Stage) -> bool:
        """True on every evaluation step and on the training steps that end in a logged
        optimizer step; statistics cost a host-device synchronisation, so other steps skip them."""
        if stage != sb.Stage.TRAIN:
            return True
        upcoming = self.optimizer_step + 1
        ends_optimizer_step = self.step % self.grad_accumulation_factor == 0
        return ends_optimizer_step and (upcoming == 1 or upcoming % self.hparams.log_interval == 0)

    def _accumulate(self, statistics: dict | None, skipped: int) -> None:
        self.skipped_items += skipped
        for name in STATISTICS if statistics else ():
            value = float(statistics.get(name, math.nan))
            if not math.isnan(value):
                total, count = self.statistic_sums.get(name, (0.0, 0))
                self.statistic_sums[name] = (total + value, count + 1)

    def _statistics(self) -> dict:
        means = {name: round(total / count, 4) for name, (total, count) in self.statistic_sums.items() if count}
        means["skipped_items"] = self.skipped_items
        return means

    def on_stage_start(self, stage: sb.Stage, epoch: int | None = None) -> None:
        """Reset the statistics; point the training views at this epoch's randomness."""
        self.statistic_sums: dict[str, tuple[float, int]] = {}
        self.skipped_items = 0
        if stage == sb.Stage.TRAIN and epoch is not None:
            self.hparams.train_epoch_seed.epoch = epoch

    def on_stage_end(self, stage: sb.Stage, stage_loss: float, epoch: int | None = None) -> None:
        """Log the epoch; checkpoint after validation (or after training without one)."""
        statistics = {"loss": round(stage_loss, 5), **self._statistics()}
        if stage == sb.Stage.TRAIN:
            self.train_stats = statistics
            if getattr(self.hparams, "valid_manifests_given", True):
                return
        epoch_stats = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"], "optimizer_step": self.optimizer_step}
        if stage == sb.Stage.TRAIN:
            self.hparams.train_logger.log_stats(epoch_stats, train_stats=self.train_stats)
            meta = {"train_loss": statistics["loss"]}
        else:
            self.hparams.train_logger.log_stats(
                epoch_stats, train_stats=getattr(self, "train_stats", None), valid_stats=statistics
            )
            meta = {"loss": statistics["loss"]}
        if self.checkpointer is not None and stage != sb.Stage.TEST:
            self.checkpointer.save_and_keep_only(
                meta={**meta, "optimizer_step": self.optimizer_step},
                num_to_keep=self.hparams.checkpoints_to_keep,
                min_keys=["loss"] if "loss" in meta else None,
            )
