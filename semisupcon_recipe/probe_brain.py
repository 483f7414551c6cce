"""The paper's probe protocol: a SpeechBrain Brain trains a head with early stopping.

The protocol of METHOD.md section 9 (``hparams/probe/paper.yaml``): training examples
are raw chunk embeddings with their track's label, the optimizer of the yaml (Adam
3e-4, weight decay 1e-6), batches of chunks, early stopping on the validation metric,
ties broken by the validation loss (:class:`EarlyStopper`). Validation and test are
scored per track (the mean of its chunk embeddings). SpeechBrain's Checkpointer keeps
the best validation checkpoint (and the latest, to resume) and the test runs on the
best.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Callable, Mapping

import speechbrain as sb
import torch
from speechbrain.dataio.sampler import ReproducibleRandomSampler
from speechbrain.utils.checkpoints import Checkpointer, mark_as_loader, mark_as_saver, register_checkpoint_hooks
from speechbrain.utils.epoch_loop import EpochCounter
from torch import nn

from semisupcon_recipe.metrics import compute_metrics
from semisupcon_recipe.files import write_json
from semisupcon_recipe.probe import ProbeRun, probe_loss
from semisupcon_recipe.probe_data import ProbeData

logger = logging.getLogger(__name__)


@register_checkpoint_hooks
class EarlyStopper(EpochCounter):
    """Epoch counter that stops after ``patience`` epochs without a better validation result.

    An epoch is better than the best so far if its score is higher by more than
    ``min_delta``, or equal within ``min_delta`` with a lower validation loss (so a
    saturated accuracy, common on small validation sets, does not freeze the choice on
    the first epoch that reached it). :meth:`ProbeBrain.selection_order` ranks
    checkpoints the same way. SpeechBrain's ``EpochCounterWithStopper`` is not used: a
    score equal to the best counts as an improvement there when maximizing, so a
    plateau never stops, and its early-stopping state is not checkpointed. This
    counter saves and recovers all of its state with the Checkpointer.

    Parameters
    ----------
    limit : int
        Maximum number of epochs.
    patience : int
        Epochs without a better result before stopping (>= 1).
    min_delta : float
        Score differences up to this size count as ties.

    Example
    -------
    >>> stopper = EarlyStopper(limit=10, patience=2)
    >>> scores = [0.5, 0.7, 0.7, 0.7, 0.7, 0.9]
    >>> losses = [0.9, 0.8, 0.6, 0.7, 0.7, 0.5]
    >>> for epoch in stopper:
    ...     stopper.update_metric(scores[epoch - 1], losses[epoch - 1])
    >>> stopper.current, stopper.best_epoch
    (5, 3)
    """

    def __init__(self, limit: int, patience: int, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1 epoch, got {patience}")
        super().__init__(limit)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best_score = -math.inf
        self.best_loss = math.inf
        self.best_epoch = 0
        self.should_stop = False

    def __next__(self) -> int:
        if self.should_stop:
            raise StopIteration
        return super().__next__()

    def update_metric(self, score: float, loss: float = math.inf) -> None:
        """Record the validation score (and loss) of the epoch that just ended."""
        higher = score > self.best_score + self.min_delta
        tied_with_lower_loss = score >= self.best_score - self.min_delta and loss < self.best_loss
        if higher or tied_with_lower_loss:
            self.best_score, self.best_loss, self.best_epoch = score, loss, self.current
        self.should_stop = self.current - self.best_epoch >= self.patience
        if self.should_stop:
            logger.info("no better validation result for %d epochs: stopping early", self.patience)

    @mark_as_saver
    def _save(self, path: str | Path) -> None:
        state = {key: getattr(self, key) for key in ("current", "best_score", "best_loss", "best_epoch", "should_stop")}
        Path(path).write_text(json.dumps(state))

    @mark_as_loader
    def _recover(self, path: str | Path, end_of_epoch: bool = True) -> None:
        state = json.loads(Path(path).read_text())
        for key, value in state.items():
            setattr(self, key, value)
        if not end_of_epoch:
            self.current -= 1


class ProbeBrain(sb.Brain):
    """Trains a probe head on frozen features with early stopping on a validation metric.

    Expected ``hparams``: ``task_kind`` (supervision kind), ``select_on`` (metric name of
    :func:`semisupcon_recipe.metrics.compute_metrics` to select and stop on),
    ``epoch_counter`` (an :class:`EarlyStopper`), ``label_names`` (output names),
    ``task_name``, ``seed`` (order of the training chunks, reshuffled every epoch);
    optional ``train_logger``. ``modules`` holds ``head``. Batches are
    ``(embeddings (B, D), targets)`` pairs from
    :func:`semisupcon_recipe.probe_data.probe_datasets`.

    After :meth:`evaluate`, ``test_metrics`` holds the test metrics of the best
    validation checkpoint and ``best_checkpoint`` its meta data.
    """

    def make_dataloader(self, dataset, stage, ckpt_prefix="dataloader-", **loader_kwargs):
        """SpeechBrain's loader; training chunks are shuffled with a seeded, per-epoch order."""
        if stage == sb.Stage.TRAIN and "sampler" not in loader_kwargs:
            self.train_sampler = ReproducibleRandomSampler(dataset, seed=self.hparams.seed)
            loader_kwargs["sampler"] = self.train_sampler
        return super().make_dataloader(dataset, stage, ckpt_prefix=ckpt_prefix, **loader_kwargs)

    def compute_forward(self, batch, stage):
        """Head outputs ``(B, C)`` for a batch of embeddings ``(B, D)``."""
        embeddings, _ = batch
        return self.modules.head(embeddings.to(self.device))  # (B, C)

    def compute_objectives(self, predictions, batch, stage):
        """Probe loss; keeps validation/test outputs for the track-level metrics."""
        _, targets = batch
        targets = targets.to(self.device)
        if stage != sb.Stage.TRAIN:
            self.stage_outputs.append(predictions.detach().float().cpu())
            self.stage_targets.append(targets.detach().cpu())
        return probe_loss(self.hparams.task_kind, predictions, targets)

    def on_stage_start(self, stage, epoch=None):
        """Reset the collected outputs."""
        self.stage_outputs, self.stage_targets = [], []

    def stage_metrics(self) -> dict:
        """Metrics over the outputs collected during the current stage."""
        return compute_metrics(
            self.hparams.task_kind,
            torch.cat(self.stage_outputs),
            torch.cat(self.stage_targets),
            names=self.hparams.label_names,
            task=self.hparams.task_name,
        )

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log, early-stop and checkpoint on the validation metric; keep test metrics."""
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        metrics = self.stage_metrics()
        numeric = {name: value for name, value in metrics.items() if isinstance(value, float)}
        select_on = self.hparams.select_on
        if select_on not in numeric:
            raise ValueError(
                f"select_on {select_on!r} is not a metric of this {self.hparams.task_kind} task; "
                f"choose one of {sorted(numeric)}"
            )
        train_logger = getattr(self.hparams, "train_logger", None)
        if stage == sb.Stage.VALID:
            score = numeric[select_on]
            if math.isnan(score):
                raise ValueError(
                    f"validation {select_on} is undefined (no tag has both positive and negative "
                    f"examples in the validation set of {self.hparams.task_name}); use a larger validation split"
                )
            self.hparams.epoch_counter.update_metric(score, float(stage_loss))
            if train_logger is not None:
                train_logger.log_stats({"epoch": epoch}, train_stats={"loss": self.train_loss},
                                       valid_stats={"loss": stage_loss, **numeric})
            self.checkpointer.save_and_keep_only(
                meta={**numeric, "loss": float(stage_loss), "epoch": epoch},
                importance_keys=[self.selection_order(select_on)],
            )
        else:
            self.test_metrics = {**metrics, "loss": float(stage_loss)}
            if train_logger is not None:
                train_logger.log_stats({"epoch loaded": self.hparams.epoch_counter.current},
                                       test_stats={"loss": stage_loss, **numeric})

    @staticmethod
    def selection_order(metric: str) -> Callable:
        """Checkpoint importance: higher ``metric`` first, lower validation loss among ties.

        The same order as :class:`EarlyStopper` (with its default ``min_delta`` of 0).
        """
        return lambda checkpoint: (checkpoint.meta[metric], -checkpoint.meta["loss"])

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Load the best validation checkpoint by ``max_key`` (default ``select_on``)."""
        if min_key is not None:
            raise ValueError("probe metrics are maximized; pass max_key (or nothing: select_on is used)")
        order = self.selection_order(max_key or self.hparams.select_on)
        checkpoint = self.checkpointer.recover_if_possible(importance_key=order)
        if checkpoint is None:
            raise FileNotFoundError(f"no checkpoint in {self.checkpointer.checkpoints_dir}: train the probe first")
        self.best_checkpoint = dict(checkpoint.meta)


def probe_results(brain: ProbeBrain, data: ProbeData, **extra: object) -> dict:
    """Results of a tested probe: selection metric, best epoch, valid and test metrics.

    Parameters
    ----------
    brain : ProbeBrain
        After :meth:`ProbeBrain.evaluate` (which loads the best validation checkpoint).
    data : ProbeData
        What it was trained on (label names and data counts are reported).
    **extra
        Added as is (task name, seed, encoder path, corruption...).
    """
    return {
        **extra,
        "kind": data.kind,
        "select_on": brain.hparams.select_on,
        "best_epoch": brain.best_checkpoint.get("epoch"),
        "valid": {key: value for key, value in brain.best_checkpoint.items()
                  if isinstance(value, float) and key != "unixtime"},
        "test": brain.test_metrics,
        "labels": data.vocabulary.names if data.kind != "regression" else data.vocabulary.num_outputs,
        "data": data.summary,
    }


def build_head(head_factory: Callable[..., nn.Module], data: ProbeData, seed: int) -> nn.Module:
    """Seed torch, then build a head sized for ``data`` (``input_size``, ``num_outputs``).

    Seeding here, not only at start-up, keeps the initialization independent of whether
    the features were extracted in this process or read from the cache.

    Example
    -------
    >>> from torch.utils.data import TensorDataset
    >>> from semisupcon_recipe.manifest import LabelVocabulary
    >>> from semisupcon_recipe.probe import ProbeHead
    >>> data = ProbeData("multiclass", LabelVocabulary("multiclass", ["a", "b"]), *[TensorDataset()] * 3, embedding_dim=4)
    >>> first, second = build_head(ProbeHead, data, 1), build_head(ProbeHead, data, 1)
    >>> torch.equal(first.layers[0].weight, second.layers[0].weight), first.layers[0].weight.shape
    (True, torch.Size([2, 4]))
    """
    torch.manual_seed(seed)
    return head_factory(input_size=data.embedding_dim, num_outputs=data.vocabulary.size)



def train_probe(data: ProbeData, head_factory: Callable[..., nn.Module], training: Mapping, run: ProbeRun) -> dict:
    """Train one probe, test its best validation checkpoint, write ``results.json``.

    Parameters
    ----------
    data : ProbeData
        From :func:`semisupcon_recipe.probe_data.probe_datasets`.
    head_factory : callable
        ``head_factory(input_size=D, num_outputs=C)`` -> head (a yaml ``!name:``).
    training : mapping
        The ``paper`` block (``hparams/probe/paper.yaml``): ``opt_class``
        (``opt_class(parameters)`` -> optimizer, a yaml ``!name:``), ``batch_size``,
        ``max_epochs``, ``patience``.
    run : ProbeRun
        Task, selection metric, seed (head initialization and chunk order), device,
        and the run folder: ``save/`` (checkpoints; rerunning resumes),
        ``train_log.txt``, ``results.json``.

    Returns
    -------
    dict
        The content of ``results.json``: ``test`` and ``valid`` metrics, ``best_epoch``...
    """
    from speechbrain.utils.train_logger import FileTrainLogger

    started = time.time()
    run.output_folder.mkdir(parents=True, exist_ok=True)
    head = build_head(head_factory, data, run.seed)
    counter = EarlyStopper(limit=int(training["max_epochs"]), patience=int(training["patience"]))
    checkpointer = Checkpointer(run.output_folder / "save", recoverables={"head": head, "counter": counter})
    hparams = {
        "task_kind": data.kind,
        "select_on": run.select_on,
        "epoch_counter": counter,
        "label_names": data.vocabulary.names,
        "task_name": run.task_name,
        "seed": run.seed,
        "train_logger": FileTrainLogger(run.output_folder / "train_log.txt"),
    }
    brain = ProbeBrain(modules={"head": head}, opt_class=training["opt_class"], hparams=hparams,
                       run_opts={"device": run.device, "noprogressbar": True}, checkpointer=checkpointer)
    loader = {"batch_size": int(training["batch_size"])}
    brain.fit(counter, data.train, data.valid, train_loader_kwargs=loader, valid_loader_kwargs=loader)
    epochs_run = counter.current  # evaluate() rewinds the counter to the best checkpoint
    brain.evaluate(data.test, max_key=run.select_on, test_loader_kwargs=loader)
    results = probe_results(
        brain, data, task=run.task_name, seed=run.seed, protocol="paper", head=repr(head).replace("\n", " "),
        epochs_run=epochs_run, seconds=round(time.time() - started, 2), **dict(run.extra_results),
    )
    write_json(run.output_folder / "results.json", results)
    return results
