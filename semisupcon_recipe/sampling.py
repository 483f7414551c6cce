"""Mixed-label batches: a fixed share of labeled clips in every batch.

Two pools are sampled independently: the labeled pool (a fraction ``p_s`` of the
labeled set, drawn once with the seed and recorded) and the unlabeled pool. Every
batch holds ``floor(batch_size * b_s)`` labeled clips and the rest unlabeled. The pool
that runs out first is cycled with a fresh shuffle, so every batch has the same
composition; an epoch is one pass over the pool that needs the most batches.

Under DDP the sampler produces the *global* batches (``batch_size`` clips per rank
times ``num_replicas``) and each rank takes its own slice, with the same labeled share.
The global batch is therefore the same whatever the number of processes, which makes
multi-process runs comparable with single-process runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from semisupcon_recipe.files import atomic_write_text


def select_labeled_subset(ids: Sequence[str], fraction: float, seed: int, record: str | Path | None = None) -> list[str]:
    """Draw the fraction ``p_s`` of the labeled set that is used at all, once.

    If ``record`` exists, the IDs it lists are returned (a resumed run keeps its
    subset); otherwise the subset is drawn with ``seed`` and written there, one ID
    per line (an ID may contain spaces). ``fraction`` is applied exactly once (the
    reference code applies it twice).

    Example
    -------
    >>> ids = [f"clip{i}" for i in range(200)]
    >>> kept = select_labeled_subset(ids, 0.05, seed=1)
    >>> len(kept), kept == select_labeled_subset(ids, 0.05, seed=1)
    (10, True)
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"p_s (labeled_data_fraction) must lie in [0, 1], got {fraction}")
    unwritable = [item for item in ids if not item or "\n" in item or "\r" in item]
    if unwritable:
        raise ValueError(f"IDs must be non-empty and on one line; found {unwritable[:3]}: fix the manifest's ID column")
    if record is not None and Path(record).is_file():
        kept = Path(record).read_text(encoding="utf-8").split("\n")  # one ID per line, spaces included
        if kept[-1] == "":
            kept.pop()
        unknown = sorted(set(kept) - set(ids))
        if unknown:
            raise ValueError(f"{record} lists IDs not in the labeled manifest (e.g. {unknown[:3]}); delete it to redraw")
        return kept
    count = 0 if fraction == 0 else max(1, round(fraction * len(ids)))
    order = np.random.default_rng(seed).permutation(len(ids))
    kept = [ids[i] for i in sorted(order[:count])]
    if record is not None:
        Path(record).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(record, "".join(f"{item}\n" for item in kept))
    return kept


class _CycledPool:
    """Endless draws over ``range(pool_size)``: one fresh permutation after another.

    :meth:`take` never returns the same item twice in one call while the pool is
    large enough: an item that would repeat (at a permutation boundary) waits for
    the next call.
    """

    def __init__(self, pool_size: int, rng: np.random.Generator) -> None:
        self.pool_size = pool_size
        self.rng = rng
        self.queue: list[int] = []

    def take(self, count: int) -> list[int]:
        drawn: list[int] = []
        deferred: list[int] = []
        while len(drawn) < count:
            if not self.queue:
                self.queue = self.rng.permutation(self.pool_size).tolist()
            item = self.queue.pop(0)
            if item in drawn and self.pool_size >= count:
                deferred.append(item)
            else:
                drawn.append(item)
        self.queue = deferred + self.queue
        return drawn


class MixedLabelBatchSampler(Sampler[list[int]]):
    """Batch sampler with ``floor(batch_size * b_s)`` labeled clips per batch.

    Parameters
    ----------
    labeled : sequence of int
        Dataset indices of the labeled pool (already reduced to ``p_s``).
    unlabeled : sequence of int
        Dataset indices of the unlabeled pool.
    batch_size : int
        Clips per batch on each process.
    labeled_share : float
        ``b_s``: 0 is pure self-supervision, 1 pure supervised contrastive learning.
        A clip appears at most once per global batch unless its pool is smaller
        than its share of the batch.
    seed : int
        With the epoch, fixes the whole sequence of batches (resumable mid-epoch).
    batches_per_epoch : int, optional
        Fixed epoch length; by default one pass over the pool needing most batches.
    num_replicas, rank : int
        DDP world size and this process's rank.

    Example
    -------
    >>> sampler = MixedLabelBatchSampler(range(0, 5), range(5, 50), batch_size=8, labeled_share=0.25, seed=0)
    >>> batches = list(sampler)
    >>> len(batches), all(sum(i < 5 for i in b) == 2 for b in batches)
    (8, True)
    """

    def __init__(
        self,
        labeled: Sequence[int],
        unlabeled: Sequence[int],
        batch_size: int,
        labeled_share: float,
        seed: int = 0,
        batches_per_epoch: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if not 0.0 <= labeled_share <= 1.0:
            raise ValueError(f"b_s (labeled_share) must lie in [0, 1], got {labeled_share}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside world size {num_replicas}")
        self.labeled = list(labeled)
        self.unlabeled = list(unlabeled)
        self.batch_size = int(batch_size)
        self.num_labeled = math.floor(self.batch_size * labeled_share)
        self.num_unlabeled = self.batch_size - self.num_labeled
        if labeled_share > 0 and self.num_labeled == 0:
            raise ValueError(
                f"b_s (labeled_share) = {labeled_share} with batch_size {self.batch_size} gives "
                f"floor({self.batch_size} * {labeled_share}) = 0 labeled clips per batch: the labels would never be "
                f"used; raise batch_size to at least {math.ceil(1 / labeled_share)}, or set labeled_share to 0 for "
                f"self-supervised training"
            )
        for name, pool, needed in (("labeled", self.labeled, self.num_labeled), ("unlabeled", self.unlabeled, self.num_unlabeled)):
            if needed and not pool:
                raise ValueError(f"every batch needs {needed} {name} clips but the {name} pool is empty; check the manifests, p_s and b_s")
        self.seed = int(seed)
        self.batches_per_epoch = batches_per_epoch
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches :meth:`__iter__` yields (called by the Brain)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.batches_per_epoch is not None:
            return int(self.batches_per_epoch)
        passes = [
            math.ceil(len(pool) / (share * self.num_replicas))
            for pool, share in ((self.labeled, self.num_labeled), (self.unlabeled, self.num_unlabeled))
            if share
        ]
        return max(passes)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        labeled_pool = _CycledPool(len(self.labeled), rng)
        unlabeled_pool = _CycledPool(len(self.unlabeled), rng)
        for _ in range(len(self)):
            # Draw the global batch, then keep this rank's slice of each part.
            labeled = [self.labeled[i] for i in labeled_pool.take(self.num_labeled * self.num_replicas)]
            unlabeled = [self.unlabeled[i] for i in unlabeled_pool.take(self.num_unlabeled * self.num_replicas)]
            yield (
                labeled[self.rank * self.num_labeled : (self.rank + 1) * self.num_labeled]
                + unlabeled[self.rank * self.num_unlabeled : (self.rank + 1) * self.num_unlabeled]
            )
