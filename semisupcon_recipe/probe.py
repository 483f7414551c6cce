"""Probes on frozen features: heads, data, and the SpeechBrain Brain that trains them.

The downstream protocol (METHOD.md section 9): a linear or one-hidden-layer MLP head is
trained on cached chunk embeddings (:mod:`semisupcon_recipe.features`) of a frozen
encoder.

- Training samples are individual chunks, each with its track's label.
- Validation and test predict per track: the chunk embeddings of a track are averaged
  (up to ``max_chunks`` chunks) and the head is applied to the mean, as in the paper.
- Losses: BCE-with-logits (multi-label), cross-entropy (multi-class), MSE (regression,
  targets standardized with the training tracks' mean and standard deviation; R² is
  invariant to that affine map, so it is computed on the standardized values).
- Early stopping on the validation metric, ties broken by the validation loss
  (:class:`EarlyStopper`); SpeechBrain's Checkpointer keeps the best validation
  checkpoint (and the latest, to resume) and the test runs on the best.

Label vocabularies are built from the ``labels`` cells of all three manifests, so a
class that happens to be absent from one split does not break encoding; a label of the
validation or test split that no training row has (the probe cannot learn it) is
warned about and listed in the results (``data.<split>.labels_not_in_train``). In a
multi-label manifest an empty cell means "no tag active"; in a multi-class or
regression manifest an empty cell is an unlabeled row, which a probe cannot use: such
rows are dropped and counted.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import speechbrain as sb
import torch
from speechbrain.dataio.sampler import ReproducibleRandomSampler
from speechbrain.utils.checkpoints import Checkpointer, mark_as_loader, mark_as_saver, register_checkpoint_hooks
from speechbrain.utils.epoch_loop import EpochCounter
from torch import nn
from torch.utils.data import TensorDataset

from semisupcon_recipe.features import TrackEmbeddings
from semisupcon_recipe.files import atomic_write_text
from semisupcon_recipe.manifest import LabelVocabulary, read_manifest
from semisupcon_recipe.metrics import METRICS_BY_KIND, compute_metrics

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


class ProbeHead(nn.Module):
    """Linear (``hidden_size=0``) or one-hidden-layer MLP head on embeddings.

    Parameters
    ----------
    input_size : int
        Embedding size ``D``.
    num_outputs : int
        Tags, classes or regression targets.
    hidden_size : int
        Width of the hidden ReLU layer; 0 for a linear probe.
    dropout : float
        Dropout after the hidden layer (MLP only).

    Example
    -------
    >>> ProbeHead(8, 3)(torch.randn(5, 8)).shape
    torch.Size([5, 3])
    >>> ProbeHead(8, 3, hidden_size=16, dropout=0.1)
    ProbeHead(
      (layers): Sequential(
        (0): Linear(in_features=8, out_features=16, bias=True)
        (1): ReLU()
        (2): Dropout(p=0.1, inplace=False)
        (3): Linear(in_features=16, out_features=3, bias=True)
      )
    )
    """

    def __init__(self, input_size: int, num_outputs: int, hidden_size: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden_size:
            layers = [nn.Linear(input_size, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, num_outputs)]
        elif dropout:
            raise ValueError("dropout applies to the hidden layer of the MLP head; set hidden_size > 0 or dropout: 0")
        else:
            layers = [nn.Linear(input_size, num_outputs)]
        self.layers = nn.Sequential(*layers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` embeddings -> ``(B, num_outputs)`` logits or predictions."""
        return self.layers(embeddings)


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


def default_selection_metric(kind: str) -> str:
    """Validation metric used for early stopping when a task names none.

    Example
    -------
    >>> default_selection_metric("multilabel"), default_selection_metric("regression")
    ('roc_auc', 'r2')
    """
    if kind not in METRICS_BY_KIND:
        raise ValueError(f"unknown task kind {kind!r}; use one of {sorted(METRICS_BY_KIND)}")
    return METRICS_BY_KIND[kind][0]


def probe_loss(kind: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Loss of a probe: BCE-with-logits, cross-entropy or MSE by task kind.

    Example
    -------
    >>> round(float(probe_loss("multiclass", torch.zeros(2, 4), torch.tensor([0, 3]))), 4)
    1.3863
    """
    if kind == "multilabel":
        return nn.functional.binary_cross_entropy_with_logits(outputs, targets)
    if kind == "multiclass":
        return nn.functional.cross_entropy(outputs, targets)
    if kind == "regression":
        return nn.functional.mse_loss(outputs, targets)
    raise ValueError(f"unknown task kind {kind!r}; use one of {sorted(METRICS_BY_KIND)}")


# ----------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------
@dataclass
class ProbeData:
    """Tensors a probe trains and is evaluated on.

    Attributes
    ----------
    kind : str
        Supervision kind.
    vocabulary : LabelVocabulary
        Names of the outputs.
    train : TensorDataset
        ``(chunk embedding (D,), track target)`` per training chunk.
    valid, test : TensorDataset
        ``(mean chunk embedding (D,), target)`` per track.
    embedding_dim : int
        ``D``.
    train_tracks : TensorDataset or None
        ``(mean chunk embedding (D,), target)`` per training track (the tuned protocol
        of :mod:`semisupcon_recipe.probe_tuning` trains on these).
    target_mean, target_std : torch.Tensor or None
        Regression standardization (training tracks), ``(K,)`` each.
    summary : dict
        Per split: tracks, chunks, skipped (unreadable), padded, unlabeled rows dropped.
    """

    kind: str
    vocabulary: LabelVocabulary
    train: TensorDataset
    valid: TensorDataset
    test: TensorDataset
    embedding_dim: int
    train_tracks: TensorDataset | None = None
    target_mean: torch.Tensor | None = None
    target_std: torch.Tensor | None = None
    summary: dict = field(default_factory=dict)


def _labeled_subset(features: TrackEmbeddings, cells: Mapping[str, str], kind: str) -> tuple[list[int], int]:
    """Indices of the tracks a probe can use, and the number of unlabeled rows dropped."""
    if kind == "multilabel":
        return list(range(len(features.ids))), 0
    keep = [index for index, item_id in enumerate(features.ids) if cells[item_id].strip()]
    return keep, len(features.ids) - len(keep)


def _labels_not_in_train(kind: str, cells: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Per evaluation split, the label names its rows use that no training row uses.

    Example
    -------
    >>> _labels_not_in_train("multilabel", {"train": {"a": "rock"}, "valid": {"b": "rock"}, "test": {"c": "rock;new age"}})
    {'test': ['new age']}
    """
    if kind == "regression":
        return {}
    names = {split: set(LabelVocabulary.from_cells(kind, list(cells[split].values())).names) for split in SPLITS}
    unseen = {split: sorted(names[split] - names["train"]) for split in SPLITS if split != "train"}
    return {split: found for split, found in unseen.items() if found}


def probe_datasets(
    kind: str,
    features: Mapping[str, TrackEmbeddings],
    manifests: Mapping[str, str | Path],
    replacements: Mapping[str, str] | None = None,
) -> ProbeData:
    """Turn cached features and manifest labels into probe datasets.

    Parameters
    ----------
    kind : str
        ``"multilabel"``, ``"multiclass"`` or ``"regression"``.
    features : mapping
        ``{"train": ..., "valid": ..., "test": ...}`` :class:`TrackEmbeddings`.
    manifests : mapping
        The same keys -> manifest CSVs (for the ``labels`` column).
    replacements : mapping, optional
        ``$name`` replacements of the manifests.

    Returns
    -------
    ProbeData

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.manifest import write_manifest
    >>> folder = Path(tempfile.mkdtemp())
    >>> paths = {}
    >>> for split in SPLITS:
    ...     paths[split] = folder / f"{split}.csv"
    ...     _ = write_manifest(paths[split], [{"ID": "a", "duration": 1, "wav": "a.wav", "labels": "rock"},
    ...                                       {"ID": "b", "duration": 1, "wav": "b.wav", "labels": "jazz"}])
    >>> features = TrackEmbeddings(["a", "b"], torch.randn(3, 4), torch.tensor([2, 1]))
    >>> data = probe_datasets("multiclass", {split: features for split in SPLITS}, paths)
    >>> data.vocabulary.names, len(data.train), len(data.valid), data.train[:][1].tolist()
    (['jazz', 'rock'], 3, 2, [1, 1, 0])
    """
    missing = [split for split in SPLITS if split not in features or split not in manifests]
    if missing:
        raise ValueError(f"probe datasets need features and manifests for {SPLITS}; missing {missing}")
    cells = {
        split: {item_id: row["labels"] for item_id, row in read_manifest(manifests[split], replacements).items()}
        for split in SPLITS
    }
    vocabulary = LabelVocabulary.from_cells(kind, [cell for split in SPLITS for cell in cells[split].values()])
    if vocabulary.kind != "regression" and not vocabulary.names:
        raise ValueError(f"manifests {[str(manifests[s]) for s in SPLITS]} hold no labels; fill their 'labels' column")
    unseen = _labels_not_in_train(kind, cells)
    for split, names in unseen.items():
        logger.warning(
            "%s: label(s) %s occur in the %s split but not in the training split %s; the probe cannot learn them "
            "(reported in results.json under data.%s.labels_not_in_train)",
            manifests[split], names, split, manifests["train"], split,
        )
    tensors, track_tensors, summary = {}, {}, {}
    for split in SPLITS:
        split_features = features[split]
        keep, dropped = _labeled_subset(split_features, cells[split], kind)
        if not keep:
            raise ValueError(f"{manifests[split]}: no readable, labeled track left for the {split} split")
        targets = torch.stack([
            vocabulary.encode(cells[split][split_features.ids[index]], where=f"{manifests[split]}, ID {split_features.ids[index]!r}")
            for index in keep
        ])  # (M,) or (M, C)
        keep_index = torch.tensor(keep, dtype=torch.long)
        track_tensors[split] = [split_features.track_means()[keep_index], targets]  # (M', D), (M',) or (M', C)
        if split == "train":
            track_of_chunk = split_features.track_index()  # (N,)
            position = torch.full((len(split_features.ids),), -1, dtype=torch.long)
            position[keep_index] = torch.arange(len(keep))
            chunk_mask = position[track_of_chunk] >= 0  # (N,)
            inputs = split_features.chunks[chunk_mask]  # (N', D)
            targets = targets[position[track_of_chunk[chunk_mask]]]  # (N',) or (N', C)
        else:
            inputs, targets = track_tensors[split]
        tensors[split] = [inputs, targets]
        summary[split] = {**split_features.summary(), "unlabeled_dropped": dropped, "examples": len(inputs)}
        if split in unseen:
            summary[split]["labels_not_in_train"] = unseen[split]
    target_mean = target_std = None
    if kind == "regression":
        train_tracks = torch.stack([
            vocabulary.encode(cells["train"][features["train"].ids[index]])
            for index in _labeled_subset(features["train"], cells["train"], kind)[0]
        ])  # (M, K)
        target_mean = train_tracks.mean(dim=0)  # (K,)
        target_std = train_tracks.std(dim=0, unbiased=False)  # (K,)
        target_std = torch.where(target_std > 0, target_std, torch.ones_like(target_std))
        for split in SPLITS:
            tensors[split][1] = (tensors[split][1] - target_mean) / target_std
        track_tensors["train"][1] = (track_tensors["train"][1] - target_mean) / target_std
    return ProbeData(
        kind=kind,
        vocabulary=vocabulary,
        train=TensorDataset(*tensors["train"]),
        valid=TensorDataset(*tensors["valid"]),
        test=TensorDataset(*tensors["test"]),
        embedding_dim=int(features["train"].chunks.shape[1]),
        train_tracks=TensorDataset(*track_tensors["train"]),
        target_mean=target_mean,
        target_std=target_std,
        summary=summary,
    )


# ----------------------------------------------------------------------------------
# Brain
# ----------------------------------------------------------------------------------
class ProbeBrain(sb.Brain):
    """Trains a probe head on frozen features with early stopping on a validation metric.

    Expected ``hparams``: ``task_kind`` (supervision kind), ``select_on`` (metric name of
    :func:`semisupcon_recipe.metrics.compute_metrics` to select and stop on),
    ``epoch_counter`` (an :class:`EarlyStopper`), ``label_names`` (output names),
    ``task_name``, ``seed`` (order of the training chunks, reshuffled every epoch);
    optional ``train_logger``. ``modules`` holds ``head``. Batches are
    ``(embeddings (B, D), targets)`` pairs from :func:`probe_datasets`.

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
    >>> data = ProbeData("multiclass", LabelVocabulary("multiclass", ["a", "b"]), *[TensorDataset()] * 3, embedding_dim=4)
    >>> first, second = build_head(ProbeHead, data, 1), build_head(ProbeHead, data, 1)
    >>> torch.equal(first.layers[0].weight, second.layers[0].weight), first.layers[0].weight.shape
    (True, torch.Size([2, 4]))
    """
    torch.manual_seed(seed)
    return head_factory(input_size=data.embedding_dim, num_outputs=data.vocabulary.size)


def write_json(path: str | Path, data: object) -> None:
    """Write JSON atomically (temporary file + rename).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "r.json"
    >>> write_json(path, {"a": 1}); json.loads(path.read_text())
    {'a': 1}
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


def train_probe(
    data: ProbeData,
    head_factory: Callable[..., nn.Module],
    opt_class: Callable,
    select_on: str,
    batch_size: int,
    max_epochs: int,
    patience: int,
    seed: int,
    output_folder: str | Path,
    task_name: str,
    device: str = "cpu",
    extra_results: Mapping[str, object] | None = None,
) -> dict:
    """Train one probe, test its best validation checkpoint, write ``results.json``.

    Parameters
    ----------
    data : ProbeData
        From :func:`probe_datasets`.
    head_factory : callable
        ``head_factory(input_size=D, num_outputs=C)`` -> head (a yaml ``!name:``).
    opt_class : callable
        ``opt_class(parameters)`` -> optimizer (a yaml ``!name:``).
    select_on : str
        Validation metric for early stopping and checkpoint selection.
    batch_size, max_epochs, patience : int
        Protocol settings.
    seed : int
        Seeds the head initialization and the chunk shuffling.
    output_folder : str or Path
        Run folder: ``save/`` (checkpoints; rerunning resumes), ``train_log.txt``,
        ``results.json``.
    task_name : str
        For messages and the results.
    device : str
        ``"cpu"`` or ``"cuda[:i]"``.
    extra_results : mapping, optional
        Added to ``results.json`` (encoder path, corruption...).

    Returns
    -------
    dict
        The content of ``results.json``: ``test`` and ``valid`` metrics, ``best_epoch``...
    """
    from speechbrain.utils.train_logger import FileTrainLogger

    started = time.time()
    output_folder = Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    head = build_head(head_factory, data, seed)
    counter = EarlyStopper(limit=max_epochs, patience=patience)
    checkpointer = Checkpointer(output_folder / "save", recoverables={"head": head, "counter": counter})
    hparams = {
        "task_kind": data.kind,
        "select_on": select_on,
        "epoch_counter": counter,
        "label_names": data.vocabulary.names,
        "task_name": task_name,
        "seed": seed,
        "train_logger": FileTrainLogger(output_folder / "train_log.txt"),
    }
    brain = ProbeBrain(
        modules={"head": head},
        opt_class=opt_class,
        hparams=hparams,
        run_opts={"device": device, "noprogressbar": True},
        checkpointer=checkpointer,
    )
    brain.fit(
        counter,
        data.train,
        data.valid,
        train_loader_kwargs={"batch_size": batch_size},
        valid_loader_kwargs={"batch_size": batch_size},
    )
    epochs_run = counter.current  # evaluate() rewinds the counter to the best checkpoint
    brain.evaluate(data.test, max_key=select_on, test_loader_kwargs={"batch_size": batch_size})
    results = probe_results(
        brain, data, task=task_name, seed=seed, head=repr(head).replace("\n", " "),
        epochs_run=epochs_run, seconds=round(time.time() - started, 2), **dict(extra_results or {}),
    )
    write_json(output_folder / "results.json", results)
    return results
