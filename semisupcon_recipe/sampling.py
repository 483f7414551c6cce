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

Optionally (``labeled_sampling: pairs`` in the recipe yaml) the labeled part of a batch
comes in pairs: an anchor drawn as above, then one of the labeled clips its labels make
a positive of (same class, enough shared tags...; :func:`positive_partners`). Uniform
draws give a labeled view few label-derived positives when there are many classes (with
8 labeled clips and 24 keys, 0.6 on average); pairs guarantee some in every batch.
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


LABELED_SAMPLINGS = ("uniform", "pairs")


def positive_partners(similarity: np.ndarray, first_row: int = 0) -> list[list[int]]:
    """For each labeled clip, the other labeled clips whose labels make it a positive.

    Parameters
    ----------
    similarity : array (R, L)
        Label similarity of ``R`` labeled clips (rows ``first_row`` to ``first_row + R``
        of the labeled pool) with the whole pool of ``L``, as the objective computes it
        (:class:`~semisupcon_recipe.label_similarity.LabelSimilarity`); > 0 is a positive.
    first_row : int
        Pool position of the first row (row ``i`` is never its own partner), so that a
        large pool can be done a block of rows at a time.

    Example
    -------
    >>> keys = np.array([0, 1, 0, 2, 0])
    >>> positive_partners(keys[:, None] == keys[None, :])
    [[2, 4], [], [0, 4], [], [0, 2]]
    >>> positive_partners(keys[3:, None] == keys[None, :], first_row=3)
    [[], [0, 2]]
    """
    positive = np.array(similarity) > 0  # (R, L)
    rows = np.arange(len(positive))
    positive[rows, first_row + rows] = False
    return [np.flatnonzero(row).tolist() for row in positive]


PARTNER_BLOCK = 1024  # labeled clips whose similarities to the whole pool are computed at once


def label_partners(labels, similarity) -> list[np.ndarray]:
    """Each labeled clip's positives (pool positions, int32) from the pool's encoded labels.

    ``similarity`` is the objective's :class:`~semisupcon_recipe.label_similarity.LabelSimilarity`
    (``labels_a, labels_b -> (A, B)``); it is computed :data:`PARTNER_BLOCK` rows at a time
    (memory ``O(L)``, not ``O(L^2)``) and each block goes through :func:`positive_partners`.

    Example
    -------
    >>> import torch
    >>> from semisupcon_recipe.label_similarity import LabelSimilarity
    >>> [row.tolist() for row in label_partners(torch.tensor([0, 1, 0, 2, 0]), LabelSimilarity("multiclass"))]
    [[2, 4], [], [0, 4], [], [0, 2]]
    """
    partners = []
    for first in range(0, len(labels), PARTNER_BLOCK):
        block = similarity(labels[first : first + PARTNER_BLOCK], labels).numpy()  # (block, L)
        partners += [np.asarray(row, dtype=np.int32) for row in positive_partners(block, first_row=first)]
    return partners


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

    def take_one(self, exclude: Sequence[int]) -> int:
        """The next item not in ``exclude`` (skipped items keep their place); any item if all are excluded."""
        if not self.queue:
            self.queue = self.rng.permutation(self.pool_size).tolist()
        for position, item in enumerate(self.queue):
            if item not in exclude:
                return self.queue.pop(position)
        if len(set(exclude)) >= self.pool_size:
            return self.queue.pop(0)  # the pool is smaller than the batch: repeats cannot be avoided
        self.queue += self.rng.permutation(self.pool_size).tolist()
        return self.take_one(exclude)


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
    labeled_partners : sequence of sequence of int, optional
        Pair sampling: for each position in ``labeled``, the positions of its
        positives (:func:`positive_partners`). The labeled part of a global batch is
        then anchor, partner, anchor, partner...: each anchor from the cycled pool, each
        partner drawn among the anchor's positives not yet in the batch (an anchor
        without one is followed by the next anchor). ``None``: uniform draws.

    Example
    -------
    >>> sampler = MixedLabelBatchSampler(range(0, 5), range(5, 50), batch_size=8, labeled_share=0.25, seed=0)
    >>> batches = list(sampler)
    >>> len(batches), all(sum(i < 5 for i in b) == 2 for b in batches)
    (8, True)

    Pairs: with classes [0, 0, 1, 1, 2], a batch's two labeled clips share a class
    unless the anchor is the class-2 clip, which has no partner.

    >>> classes = np.array([0, 0, 1, 1, 2])
    >>> pairs = MixedLabelBatchSampler(range(0, 5), range(5, 50), batch_size=8, labeled_share=0.25, seed=0,
    ...                                labeled_partners=positive_partners(classes[:, None] == classes[None, :]))
    >>> [sorted(classes[batch[:2]].tolist()) for batch in pairs][:4]
    [[1, 1], [1, 2], [0, 0], [0, 0]]
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
        labeled_partners: Sequence[Sequence[int]] | None = None,
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
        if labeled_partners is not None and len(labeled_partners) != len(self.labeled):
            raise ValueError(f"labeled_partners has {len(labeled_partners)} entries for {len(self.labeled)} labeled clips")
        # int32 arrays: a large pool with common tags has many partners per clip
        self.labeled_partners = None if labeled_partners is None else [np.asarray(p, dtype=np.int32) for p in labeled_partners]
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
            labeled = [self.labeled[i] for i in self._labeled_positions(labeled_pool, rng, self.num_labeled * self.num_replicas)]
            unlabeled = [self.unlabeled[i] for i in unlabeled_pool.take(self.num_unlabeled * self.num_replicas)]
            yield (
                labeled[self.rank * self.num_labeled : (self.rank + 1) * self.num_labeled]
                + unlabeled[self.rank * self.num_unlabeled : (self.rank + 1) * self.num_unlabeled]
            )

    def _labeled_positions(self, pool: _CycledPool, rng: np.random.Generator, count: int) -> list[int]:
        """``count`` positions in the labeled pool: uniform draws, or anchor/partner pairs."""
        if self.labeled_partners is None:
            return pool.take(count)
        drawn: list[int] = []
        while len(drawn) < count:
            anchor = pool.take_one(exclude=drawn)
            drawn.append(anchor)
            partners = self.labeled_partners[anchor]
            free = partners[~np.isin(partners, drawn)]
            if len(free) and len(drawn) < count:
                drawn.append(int(free[rng.integers(len(free))]))
        return drawn
