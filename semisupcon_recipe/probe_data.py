"""Probe data: cached chunk features and manifest labels -> the tensors a probe uses.

- Training examples are individual chunks, each with its track's label
  (:attr:`ProbeData.train`); the tuned protocol trains on the training tracks instead
  (:attr:`ProbeData.train_tracks`).
- Validation and test predict per track: the chunk embeddings of a track are averaged
  (up to ``max_chunks`` chunks, :mod:`semisupcon_recipe.features`) and the head is
  applied to the mean, as in the paper.
- Regression targets are standardized with the training tracks' mean and standard
  deviation (R² is invariant to that affine map, so it is computed on the
  standardized values).

Label vocabularies are built from the ``labels`` cells of all three manifests, so a
class that happens to be absent from one split does not break encoding; a label of the
validation or test split that no training row has (the probe cannot learn it) is
warned about and listed in the results (``data.<split>.labels_not_in_train``). In a
multi-label manifest an empty cell means "no tag active"; in a multi-class or
regression manifest an empty cell is an unlabeled row, which a probe cannot use: such
rows are dropped and counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch
from torch.utils.data import TensorDataset

from semisupcon_recipe.features import TrackEmbeddings
from semisupcon_recipe.manifest import SPLITS, LabelVocabulary, read_manifest

logger = logging.getLogger(__name__)



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


def _tracks_a_probe_can_use(features: TrackEmbeddings, cells: Mapping[str, str], kind: str) -> tuple[list[int], int]:
    """Indices of the tracks with a usable label cell, and the number of unlabeled rows dropped.

    Example
    -------
    >>> features = TrackEmbeddings(["a", "b"], torch.zeros(2, 4), torch.tensor([1, 1]))
    >>> _tracks_a_probe_can_use(features, {"a": "rock", "b": ""}, "multiclass")
    ([0], 1)
    >>> _tracks_a_probe_can_use(features, {"a": "rock", "b": ""}, "multilabel")  # empty: no tag active
    ([0, 1], 0)
    """
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


def _split_examples(
    split: str,
    features: TrackEmbeddings,
    cells: Mapping[str, str],
    vocabulary: LabelVocabulary,
    manifest: str | Path,
) -> tuple[list[torch.Tensor], list[torch.Tensor], dict]:
    """Examples of one split: ``[inputs, targets]`` per chunk (train) or per track, per track, and counts."""
    keep, dropped = _tracks_a_probe_can_use(features, cells, vocabulary.kind)
    if not keep:
        raise ValueError(f"{manifest}: no readable, labeled track left for the {split} split")
    targets = torch.stack([
        vocabulary.encode(cells[features.ids[index]], where=f"{manifest}, ID {features.ids[index]!r}")
        for index in keep
    ])  # (M,) or (M, C)
    keep_index = torch.tensor(keep, dtype=torch.long)
    tracks = [features.track_means()[keep_index], targets]  # (M, D), (M,) or (M, C)
    examples = tracks
    if split == "train":
        track_of_chunk = features.track_index()  # (N,)
        position = torch.full((len(features.ids),), -1, dtype=torch.long)
        position[keep_index] = torch.arange(len(keep))
        chunk_mask = position[track_of_chunk] >= 0  # (N,)
        examples = [features.chunks[chunk_mask], targets[position[track_of_chunk[chunk_mask]]]]  # (N', D), (N', ...)
    summary = {**features.summary(), "unlabeled_dropped": dropped, "examples": len(examples[0])}
    return examples, tracks, summary


def _target_statistics(train_targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation ``(K,)`` of ``(M, K)`` regression targets (1 where constant)."""
    std = train_targets.std(dim=0, unbiased=False)  # (K,)
    return train_targets.mean(dim=0), torch.where(std > 0, std, torch.ones_like(std))


def probe_datasets(
    kind: str,
    features: Mapping[str, TrackEmbeddings],
    manifests: Mapping[str, str | Path],
    replacements: Mapping[str, str] | None = None,
    rows: Mapping[str, Mapping[str, dict]] | None = None,
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
    rows : mapping, optional
        The manifests already read (split -> ID -> row), so that they are not read again.

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
    rows = rows if rows is not None else {split: read_manifest(manifests[split], replacements) for split in SPLITS}
    cells = {split: {item_id: row["labels"] for item_id, row in rows[split].items()} for split in SPLITS}
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
    examples, tracks, summary = {}, {}, {}
    for split in SPLITS:
        examples[split], tracks[split], summary[split] = _split_examples(
            split, features[split], cells[split], vocabulary, manifests[split])
        summary[split].update({"labels_not_in_train": unseen[split]} if split in unseen else {})
    target_mean = target_std = None
    if kind == "regression":
        target_mean, target_std = _target_statistics(tracks["train"][1])
        for pair in (*examples.values(), tracks["train"]):
            pair[1] = (pair[1] - target_mean) / target_std  # (M, K)
    return ProbeData(
        kind=kind,
        vocabulary=vocabulary,
        **{split: TensorDataset(*examples[split]) for split in SPLITS},
        embedding_dim=int(features["train"].chunks.shape[1]),
        train_tracks=TensorDataset(*tracks["train"]),
        target_mean=target_mean,
        target_std=target_std,
        summary=summary,
    )
