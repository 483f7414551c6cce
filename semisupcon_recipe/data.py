"""Pretraining data: manifests -> SpeechBrain datasets of multi-view clips -> batches.

:func:`pretraining_datasets` reads a labeled and an unlabeled manifest, checks every
label against the vocabulary (a clear error names the row), drops files too short
for one view (counted in the log), draws the ``p_s`` subset of the labeled set once,
and returns one ``DynamicItemDataset`` with the index pools the
:class:`~semisupcon_recipe.sampling.MixedLabelBatchSampler` needs. Items whose audio
turns out unreadable during training are dropped from their batch by
:func:`collate_views` and counted, never replaced by another item.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.data_pipeline import provides, takes

from semisupcon_recipe.audio import AudioError
from semisupcon_recipe.manifest import LabelVocabulary, read_manifest
from semisupcon_recipe.sampling import select_labeled_subset
from semisupcon_recipe.views import ViewReader

logger = logging.getLogger(__name__)


@dataclass
class ViewBatch:
    """A batch of clips, each with ``N`` views.

    Attributes
    ----------
    ids : list of str
        Clip IDs ``(B,)``.
    views : torch.Tensor
        ``(B, N, L)`` waveforms.
    labels : torch.Tensor
        ``(B,)`` class indices (-1 when unlabeled) or ``(B, C)`` multi-hot/targets.
    labeled : torch.Tensor
        ``(B,)`` bool.
    skipped : list of str
        Items of this batch dropped because their audio could not be read.
    skipped_labeled : int
        How many of ``skipped`` were labeled clips.
    """

    ids: list[str]
    views: torch.Tensor
    labels: torch.Tensor
    labeled: torch.Tensor
    skipped: list[str] = field(default_factory=list)
    skipped_labeled: int = 0

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "ViewBatch":
        """Move the tensors to ``device``."""
        move = lambda tensor: tensor.to(device, non_blocking=non_blocking)  # noqa: E731
        return replace(self, views=move(self.views), labels=move(self.labels), labeled=move(self.labeled))

    def pin_memory(self) -> "ViewBatch":
        """Pin the tensors (DataLoader ``pin_memory=True``)."""
        return replace(self, views=self.views.pin_memory(), labels=self.labels.pin_memory(), labeled=self.labeled.pin_memory())


def collate_views(examples: Sequence[dict]) -> ViewBatch:
    """Stack examples from :func:`views_pipeline`, dropping those that failed to read.

    Example
    -------
    >>> good = {"id": "a", "views": torch.zeros(2, 5), "label": torch.tensor(1), "labeled": True}
    >>> bad = {"id": "b", "views": None, "label": torch.tensor(-1), "labeled": False}
    >>> batch = collate_views([good, bad])
    >>> tuple(batch.views.shape), batch.skipped, batch.skipped_labeled
    ((1, 2, 5), ['b'], 0)
    """
    kept = [example for example in examples if example["views"] is not None]
    skipped = [example["id"] for example in examples if example["views"] is None]
    if not kept:
        raise AudioError(f"every item of a batch failed to read ({skipped}); check the manifests' audio files")
    return ViewBatch(
        ids=[example["id"] for example in kept],
        views=torch.stack([example["views"] for example in kept]),  # (B, N, L)
        labels=torch.stack([example["label"] for example in kept]),  # (B,) or (B, C)
        labeled=torch.tensor([bool(example["labeled"]) for example in kept]),  # (B,)
        skipped=skipped,
        skipped_labeled=sum(bool(example["labeled"]) for example in examples if example["views"] is None),
    )


class EpochSeed:
    """Shared, picklable (seed, epoch) pair from which every item draws its views.

    A view depends only on (seed, epoch, item ID), not on the worker, the rank or the
    batch it lands in, so runs with any number of workers or processes read the same
    views, and a resumed epoch reads what the interrupted one would have read.

    Example
    -------
    >>> seed = EpochSeed(7)
    >>> a = seed.rng("clip1").integers(1000); seed.epoch = 2; b = seed.rng("clip1").integers(1000)
    >>> bool(a != b)
    True
    """

    def __init__(self, seed: int, epoch: int = 0) -> None:
        self.seed = int(seed)
        self.epoch = int(epoch)

    def rng(self, item_id: str) -> np.random.Generator:
        """Generator for one item in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, zlib.crc32(item_id.encode("utf-8"))])


def views_pipeline(reader: ViewReader, vocabulary: LabelVocabulary, epoch_seed: EpochSeed):
    """SpeechBrain dynamic item: ``(id, wav, labels)`` -> ``(views, label, labeled)``.

    ``views`` is ``None`` when the file cannot be read; the collate function drops
    and counts such items.
    """

    @takes("id", "wav", "labels")
    @provides("views", "label", "labeled")
    def pipeline(item_id: str, wav: str, labels: str):
        try:
            yield reader.read(wav, epoch_seed.rng(item_id))  # (N, L)
        except AudioError as error:
            logger.warning("skipping item %s: %s", item_id, error)
            yield None
        yield vocabulary.encode(labels, where=item_id) if labels else vocabulary.empty()
        yield bool(labels)

    return pipeline


@dataclass
class PretrainingData:
    """The dataset of a pretraining run and its two index pools."""

    dataset: DynamicItemDataset
    labeled_indices: list[int]
    unlabeled_indices: list[int]
    labeled_labels: list[torch.Tensor]  # encoded labels, in the order of labeled_indices
    vocabulary: LabelVocabulary
    too_short: list[str]


def pretraining_datasets(
    labeled_manifest: str | None,
    unlabeled_manifest: str | None,
    supervision: str,
    reader: ViewReader,
    epoch_seed: EpochSeed,
    output_folder: str | Path,
    labeled_data_fraction: float = 1.0,
    seed: int = 0,
    replacements: dict | None = None,
    label_names_file: str | Path | None = None,
    record_subset: bool = True,
) -> PretrainingData:
    """Build the pretraining dataset from a labeled and/or an unlabeled manifest.

    Parameters
    ----------
    labeled_manifest, unlabeled_manifest : str, optional
        SpeechBrain CSVs. Rows of the labeled manifest with an empty ``labels`` cell
        join the unlabeled pool; the ``labels`` of the unlabeled manifest are ignored,
        and a clip listed in both (same ID) is used once, as a labeled clip.
    supervision : str
        ``multilabel``, ``multiclass`` or ``regression``.
    reader : ViewReader
        Crops the views.
    epoch_seed : EpochSeed
        Per-item randomness of the views.
    output_folder : str or Path
        Where ``label_vocabulary.json`` and ``labeled_subset.txt`` (the ``p_s`` draw)
        are written once and read back on resume.
    labeled_data_fraction : float
        ``p_s``.
    seed : int
        Seed of the ``p_s`` draw.
    replacements : dict, optional
        ``$name`` replacements of the manifests.
    label_names_file : str or Path, optional
        One label name per line (e.g. ``tags_top50.txt`` of the MagnaTagATune
        preparation): the vocabulary and its order. By default, the names found in
        the labeled manifest; a label outside the vocabulary is an error naming the row.
    record_subset : bool
        Write (or read back) the ``p_s`` draw in ``labeled_subset.txt``; validation
        data, which is never subsampled, passes False.

    Returns
    -------
    PretrainingData
    """
    output_folder = Path(output_folder)
    labeled_rows = read_manifest(labeled_manifest, replacements) if labeled_manifest else {}
    unlabeled_rows = read_manifest(unlabeled_manifest, replacements) if unlabeled_manifest else {}
    overlap = set(labeled_rows) & set(unlabeled_rows)
    if overlap:
        logger.info("%d clip(s) of the unlabeled manifest are in the labeled one: used once, with labels", len(overlap))
    unlabeled_rows = {item_id: {**row, "labels": ""} for item_id, row in unlabeled_rows.items() if item_id not in overlap}

    all_rows = {**labeled_rows, **unlabeled_rows}
    too_short = sorted(item_id for item_id, row in all_rows.items() if row["duration"] < reader.min_duration)
    if too_short:
        logger.warning(
            "skipping %d item(s) shorter than one view (%.2f s): %s",
            len(too_short), reader.min_duration, ", ".join(too_short[:10]),
        )
    rows = {item_id: row for item_id, row in all_rows.items() if row["duration"] >= reader.min_duration}

    names = Path(label_names_file).read_text(encoding="utf-8").splitlines() if label_names_file else None
    vocabulary = LabelVocabulary.load_or_build(
        output_folder / "label_vocabulary.json", supervision, [row["labels"] for row in rows.values()],
        names=[name.strip() for name in names if name.strip()] if names else None,
    )
    encoded = {  # every label checked here, where it enters; kept for the pair sampling's partners
        item_id: vocabulary.encode(row["labels"], where=f"{labeled_manifest}, ID {item_id}")
        for item_id, row in rows.items() if row["labels"]
    }

    labeled_ids = list(encoded)
    record = output_folder / "labeled_subset.txt" if record_subset else None
    kept = set(select_labeled_subset(labeled_ids, labeled_data_fraction, seed, record))
    rows = {item_id: row for item_id, row in rows.items() if not row["labels"] or item_id in kept}
    logger.info(
        "pretraining data: %d labeled clips kept (p_s=%.3f of %d), %d unlabeled clips",
        len(kept), labeled_data_fraction, len(labeled_ids), sum(not row["labels"] for row in rows.values()),
    )

    dataset = DynamicItemDataset(rows, dynamic_items=[views_pipeline(reader, vocabulary, epoch_seed)])
    dataset.set_output_keys(["id", "views", "label", "labeled"])
    order = list(rows)
    return PretrainingData(
        dataset=dataset,
        labeled_indices=[i for i, item_id in enumerate(order) if rows[item_id]["labels"]],
        unlabeled_indices=[i for i, item_id in enumerate(order) if not rows[item_id]["labels"]],
        labeled_labels=[encoded[item_id] for item_id in order if rows[item_id]["labels"]],
        vocabulary=vocabulary,
        too_short=too_short,
    )
