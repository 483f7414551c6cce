"""SemiSupConBrain: SpeechBrain training of an encoder with the SemiSupCon objective.

``compute_forward`` flattens the batch of clips ``(B, N, L)`` into clip-major views
``(B*N, L)``, augments them (on the training device, when the yaml gives an
``augment`` module), encodes and projects them; ``compute_objectives`` builds clip ids
and per-view labels and calls the objective. Everything else (mixed precision, DDP,
checkpoints, resuming mid-epoch, optimizer-step limits) is SpeechBrain's.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import speechbrain as sb
import torch
import torch.distributed as dist
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

from semisupcon_recipe.audio import AudioError
from semisupcon_recipe.data import ViewBatch
from semisupcon_recipe.distributed import rank_and_world_size

logger = logging.getLogger(__name__)

STATISTICS = ("loss_labeled", "loss_unlabeled", "positives_self", "positives_label", "labeled_fraction")
POOLS = ("labeled", "unlabeled")


@register_checkpoint_hooks
class EpochStatistics:
    """Running sums of one epoch's statistics, kept in the checkpoints.

    A run resumed mid-epoch logs the statistics of the whole epoch, not of the part
    after the resume. Under DDP each process adds its own batches; :meth:`fold` sums
    them into the main process (``rank`` 0, the one that saves checkpoints) before
    every save, and only the main process resumes the saved sums.

    Example
    -------
    >>> statistics = EpochStatistics(STATISTICS)
    >>> statistics.reset(epoch=1)
    >>> statistics.add({"loss_labeled": 2.0}, read={"labeled": 3, "unlabeled": 4}, skipped={"labeled": 1, "unlabeled": 0})
    >>> statistics.add({"loss_labeled": 4.0}, read={"labeled": 3, "unlabeled": 4}, skipped={"labeled": 0, "unlabeled": 0})
    >>> statistics.summary()
    {'loss_labeled': 3.0, 'skipped_items': 1}
    """

    def __init__(self, names: tuple[str, ...] = STATISTICS, rank: int = 0) -> None:
        self.names = tuple(names)  # the statistics averaged over the epoch (the same on every process)
        self.rank = int(rank)
        self.reset(None)

    def reset(self, epoch: int | None) -> None:
        """Start the statistics of ``epoch`` from zero."""
        self.epoch = epoch
        self.finished = False
        self.sums = {name: [0.0, 0] for name in self.names}  # name -> [total, number of batches]
        self.read = {pool: 0 for pool in POOLS}  # clips read, per pool
        self.skipped = {pool: 0 for pool in POOLS}  # clips skipped as unreadable, per pool

    def add(self, statistics: dict, read: dict, skipped: dict) -> None:
        """Add one batch: the objective's statistics and the clips read and skipped per pool."""
        for name in self.names:
            value = float(statistics.get(name, math.nan))
            if not math.isnan(value):
                self.sums[name][0] += value
                self.sums[name][1] += 1
        for pool in POOLS:
            self.read[pool] += int(read[pool])
            self.skipped[pool] += int(skipped[pool])

    def summary(self) -> dict:
        """Means of the statistics over the epoch's batches, and the number of skipped clips."""
        means = {name: round(total / count, 4) for name, (total, count) in self.sums.items() if count}
        means["skipped_items"] = sum(self.skipped.values())
        return means

    def _vector(self) -> list[float]:
        return [value for name in self.names for value in self.sums[name]] + [
            float(counts[pool]) for counts in (self.read, self.skipped) for pool in POOLS
        ]

    def fold(self, device: torch.device | str) -> None:
        """Sum every process's counts into the main process; the others restart from zero."""
        if not sb.utils.distributed.is_distributed_initialized():
            return
        totals = torch.tensor(self._vector(), dtype=torch.float64, device=device)
        dist.all_reduce(totals)
        totals = totals.tolist() if self.rank == 0 else [0.0] * totals.numel()
        for index, name in enumerate(self.names):
            self.sums[name] = [totals[2 * index], int(totals[2 * index + 1])]
        counts = [int(value) for value in totals[2 * len(self.names):]]
        self.read = dict(zip(POOLS, counts[: len(POOLS)]))
        self.skipped = dict(zip(POOLS, counts[len(POOLS):]))

    @mark_as_saver
    def _save(self, path: str | Path) -> None:
        state = {"epoch": self.epoch, "finished": self.finished, "sums": self.sums, "read": self.read, "skipped": self.skipped}
        Path(path).write_text(json.dumps(state), encoding="utf-8")

    @mark_as_loader
    def _recover(self, path: str | Path, end_of_epoch: bool) -> None:
        del end_of_epoch
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        self.reset(state["epoch"])
        self.finished = state["finished"]
        if self.rank == 0:  # the saved counts are the sums of all processes
            self.sums = {name: list(state["sums"][name]) for name in self.names}
            self.read = dict(state["read"])
            self.skipped = dict(state["skipped"])


def view_targets(batch: ViewBatch, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clip ids ``(V,)``, labels ``(V,)`` or ``(V, C)`` and labeled mask ``(V,)`` of the
    clip-major views of ``batch`` on ``device``: what the SemiSupCon objective takes with
    the projections ``(V, P)``.

    Example
    -------
    >>> batch = ViewBatch(["a", "b"], torch.zeros(2, 3, 5), torch.tensor([4, -1]), torch.tensor([True, False]))
    >>> clip_ids, labels, labeled = view_targets(batch, "cpu")
    >>> clip_ids.tolist(), labels.tolist(), labeled.tolist()
    ([0, 0, 0, 1, 1, 1], [4, 4, 4, -1, -1, -1], [True, True, True, False, False, False])
    """
    num_clips, num_views = batch.views.shape[:2]
    clip_ids = torch.arange(num_clips, device=device).repeat_interleave(num_views)  # (V,)
    labels = batch.labels.to(device).repeat_interleave(num_views, dim=0)  # (V,) or (V, C)
    labeled = batch.labeled.to(device).repeat_interleave(num_views)  # (V,)
    return clip_ids, labels, labeled


class SemiSupConBrain(sb.Brain):
    """Brain for SemiSupCon pretraining (SSL-only, mixed and supervised-only alike).

    Expected ``modules``: ``encoder`` and ``projector``. Expected ``hparams``:
    ``loss`` (a :class:`~semisupcon_recipe.objectives.SemiSupConLoss`), ``train_logger``,
    ``epoch_counter``, ``train_epoch_seed`` (an :class:`~semisupcon_recipe.data.EpochSeed`),
    ``log_interval`` (optimizer steps between loss lines in the log; the first step is
    always logged) and optional ``augment`` (applied to training views on the device).

    The epoch's statistics (:class:`EpochStatistics`) are kept in the checkpoints, so an
    epoch resumed mid-way logs the whole epoch; an epoch in which every clip drawn from
    the labeled (or unlabeled) pool was unreadable stops the run with an
    :class:`~semisupcon_recipe.audio.AudioError` naming the manifest. Checkpoints are
    saved after validation, or after each training stage when ``fit`` has no
    ``valid_set``.

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`speechbrain.Brain`.
    train_sampler : optional
        The (batch) sampler of the training ``DataLoader`` given to ``fit``, e.g. a
        :class:`~semisupcon_recipe.sampling.MixedLabelBatchSampler`: SpeechBrain calls
        its ``set_epoch`` at every epoch (it only finds samplers of loaders it builds).
    """

    statistic_names = STATISTICS  # what the epoch log averages (subclasses with more objectives add theirs)

    def __init__(self, *args, train_sampler=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.train_sampler = train_sampler
        self.rank = rank_and_world_size()[0]
        self.validates = True  # set by fit: checkpoint after validation, else after training
        self.statistics = {stage: EpochStatistics(self.statistic_names, self.rank) for stage in sb.Stage}
        if self.checkpointer is not None:  # a resumed epoch logs the statistics of the whole epoch
            self.checkpointer.add_recoverable("epoch-statistics", self.statistics[sb.Stage.TRAIN])

    def fit(self, epoch_counter, train_set, valid_set=None, **kwargs) -> None:
        """SpeechBrain's ``fit``; without ``valid_set`` each training stage ends with a checkpoint."""
        self.validates = valid_set is not None
        super().fit(epoch_counter, train_set, valid_set, **kwargs)

    def on_fit_batch_end(self, batch: ViewBatch, outputs: torch.Tensor, loss: torch.Tensor, should_step: bool) -> None:
        """Log the global-batch loss of the first step and every ``log_interval`` steps."""
        step = self.optimizer_step
        if not should_step or not (step == 1 or step % self.hparams.log_interval == 0):
            return
        loss = loss.detach().float().clone()
        if sb.utils.distributed.is_distributed_initialized():
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
        entropy = [epoch_seed.seed, epoch_seed.epoch, self.step, self.rank]
        seed = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)
        return torch.Generator(device=self.device).manual_seed(seed)

    def compute_objectives(self, projections: torch.Tensor, batch: ViewBatch, stage: sb.Stage) -> torch.Tensor:
        """The SemiSupCon loss of one batch; accumulates its statistics for the log."""
        loss = self.semisupcon_loss(projections, batch, stage)
        self.record_batch(stage, batch, self.hparams.loss.last_statistics or {})  # None on steps that are not logged
        return loss

    def semisupcon_loss(self, projections: torch.Tensor, batch: ViewBatch, stage: sb.Stage) -> torch.Tensor:
        """The objective on projections ``(V, P)`` of ``batch``'s clip-major views (statistics on logged steps)."""
        clip_ids, labels, labeled = view_targets(batch, self.device)  # the views themselves were moved by compute_forward
        return self.hparams.loss(projections.float(), clip_ids, labels, labeled, statistics=self._logs_statistics(stage))

    def record_batch(self, stage: sb.Stage, batch: ViewBatch, statistics: dict) -> None:
        """Add one batch to the epoch's statistics: ``statistics`` and the clips read and skipped per pool."""
        num_clips, num_labeled = len(batch.ids), int(batch.labeled.sum())  # batch.labeled is still on the host: no device sync
        self.statistics[stage].add(
            statistics,
            read={"labeled": num_labeled, "unlabeled": num_clips - num_labeled},
            skipped={"labeled": batch.skipped_labeled, "unlabeled": len(batch.skipped) - batch.skipped_labeled},
        )

    def _logs_statistics(self, stage: sb.Stage) -> bool:
        """True on every evaluation step and on the training steps that end in a logged
        optimizer step; statistics cost a host-device synchronisation, so other steps skip them."""
        if stage != sb.Stage.TRAIN:
            return True
        upcoming = self.optimizer_step + 1
        ends_optimizer_step = self.step % self.grad_accumulation_factor == 0
        return ends_optimizer_step and (upcoming == 1 or upcoming % self.hparams.log_interval == 0)

    def _save_intra_epoch_ckpt(self) -> None:
        """Fold every process's statistics into the main process before it saves them."""
        self.statistics[sb.Stage.TRAIN].fold(self.device)
        super()._save_intra_epoch_ckpt()

    def on_stage_start(self, stage: sb.Stage, epoch: int | None = None) -> None:
        """Reset the statistics and the step count (unless resuming this epoch); point the training views at this epoch.

        The step count matters for a run resumed with more epochs: its end-of-epoch checkpoint
        recorded the last epoch's count, and the next epoch must draw its augmentations
        from steps 1, 2, ... as an uninterrupted run does.
        """
        statistics = self.statistics[stage]
        if not (stage == sb.Stage.TRAIN and statistics.epoch == epoch and not statistics.finished):
            statistics.reset(epoch)
            if stage == sb.Stage.TRAIN:
                self.step = 0
        if stage == sb.Stage.TRAIN and epoch is not None:
            self.hparams.train_epoch_seed.epoch = epoch

    def _check_pools_readable(self, statistics: EpochStatistics, epoch: int | None) -> None:
        """Stop when every clip drawn from a pool in the epoch was unreadable.

        Without it, a run whose labeled (or unlabeled) audio is all missing would go on
        as a self-supervised (or supervised) run and finish with exit code 0.
        """
        for pool in POOLS:
            if statistics.skipped[pool] and not statistics.read[pool]:
                manifest = getattr(self.hparams, f"{pool}_manifest", f"the {pool} manifest")
                raise AudioError(
                    f"epoch {epoch}: every {pool} clip drawn ({statistics.skipped[pool]} draws) was unreadable, so the "
                    f"{pool} pool contributes nothing and the run would silently train without it; check the wav "
                    f"paths of {manifest} (and data_root) and the warnings above, then rerun"
                )

    def on_stage_end(self, stage: sb.Stage, stage_loss: float, epoch: int | None = None) -> None:
        """Log the epoch; checkpoint after validation (or after training without one)."""
        self.statistics[stage].fold(self.device)
        if stage == sb.Stage.TRAIN:
            self._check_pools_readable(self.statistics[stage], epoch)
            self.statistics[stage].finished = True
        statistics = {"loss": round(stage_loss, 5), **self.statistics[stage].summary()}
        if stage == sb.Stage.TRAIN:
            self.train_stats = statistics
            if self.validates:
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
