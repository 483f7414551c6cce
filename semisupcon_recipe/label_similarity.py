"""How labels make positives: the similarity in [0, 1] of two labeled views' labels.

One :class:`LabelSimilarity` per supervision kind (multi-class, multi-label by shared
tags or Dice, regression by distance, or a user's callable), computed by matrix
algebra so memory stays ``O(V^2)`` whatever the number of tags. Its checks of label
dtypes, shapes and values are where labels are validated
(:class:`~semisupcon_recipe.objectives.SemiSupConLoss` runs only the metadata ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

SUPERVISIONS = ("multiclass", "multilabel", "regression", "callable")
MULTILABEL_SIMILARITIES = ("threshold", "dice")

SimilarityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LabelSimilarity:
    """Similarity in [0, 1] between the labels of two sets of labeled views.

    Parameters
    ----------
    supervision : str
        ``"multiclass"`` (long ``(V,)``: 1 when the class is the same),
        ``"multilabel"`` (multi-hot ``(V, C)``), ``"regression"`` (float ``(V,)`` or
        ``(V, K)``: 1 when the euclidean distance is <= ``radius``) or ``"callable"``
        (``similarity`` decides).
    multilabel_similarity : str
        ``"threshold"``: 1 when at least ``threshold`` active tags are shared;
        ``"dice"``: ``2|A∩B| / (|A|+|B|)``, 0 when both are empty.
    threshold : float
        Least number of shared tags for a multi-label positive.
    radius : float
        Largest label distance for a regression positive.
    similarity : callable, optional
        ``similarity(labels_a, labels_b) -> (Va, Vb)`` in [0, 1]; only with
        ``supervision="callable"``. It only ever sees labels of labeled views.
    weight : float
        Scale in (0, 1] of every label similarity: the weight of a label-derived
        positive relative to a same-clip one (1: the paper's target matrix; lower
        values pull clips that only share labels less close).

    Example
    -------
    >>> tags = torch.tensor([[1., 1., 0.], [1., 0., 0.], [0., 0., 1.]])
    >>> LabelSimilarity("multilabel", threshold=1)(tags, tags)
    tensor([[1., 1., 0.],
            [1., 1., 0.],
            [0., 0., 1.]])
    >>> LabelSimilarity("multilabel", "dice")(tags, tags)[0]
    tensor([1.0000, 0.6667, 0.0000])
    >>> LabelSimilarity("multilabel", weight=0.5)(tags, tags)[0]
    tensor([0.5000, 0.5000, 0.0000])
    """

    supervision: str = "multilabel"
    multilabel_similarity: str = "threshold"
    threshold: float = 1
    radius: float = 0.5
    similarity: Optional[SimilarityFn] = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.supervision not in SUPERVISIONS:
            raise ValueError(f"unknown supervision {self.supervision!r}; use one of {SUPERVISIONS}")
        if self.multilabel_similarity not in MULTILABEL_SIMILARITIES:
            raise ValueError(
                f"unknown multilabel_similarity {self.multilabel_similarity!r}; use one of {MULTILABEL_SIMILARITIES}"
            )
        if not self.threshold > 0:
            raise ValueError(f"threshold must be a positive number of shared tags, got {self.threshold}")
        if not 0 < self.weight <= 1:
            raise ValueError(f"label_weight must lie in (0, 1], got {self.weight}")
        if not self.radius >= 0:
            raise ValueError(f"radius must be >= 0, got {self.radius}")
        if (self.supervision == "callable") != (self.similarity is not None):
            raise ValueError(
                "supervision='callable' needs a `similarity(labels_a, labels_b)` function, and "
                f"`similarity` is only used with supervision='callable' (got supervision={self.supervision!r}, "
                f"similarity={self.similarity!r})"
            )
        if self.similarity is not None and not callable(self.similarity):
            raise ValueError(f"similarity must be callable, got {type(self.similarity).__name__}")

    def check_kind(self, labels: Optional[torch.Tensor], num_views: int) -> None:
        """Raise ``ValueError`` unless the dtype and shape of ``labels`` suit this kind.

        Reads only metadata, never the values, so it costs no host-device synchronisation.
        """
        if labels is None:
            return
        if labels.dim() == 0 or labels.shape[0] != num_views:
            raise ValueError(
                f"labels has shape {tuple(labels.shape)} but there are {num_views} views; "
                "give one label row per view (any placeholder where unlabeled)"
            )
        kind = self.supervision
        if kind == "multiclass" and (labels.dim() != 1 or labels.is_floating_point() or labels.dtype == torch.bool):
            raise ValueError(
                f"multiclass labels must be integer class indices of shape (V,), got {labels.dtype} "
                f"{tuple(labels.shape)}; use labels.long(), or supervision='regression' for numbers"
            )
        if kind == "multilabel" and labels.dim() != 2:
            raise ValueError(
                f"multilabel labels must be multi-hot of shape (V, C), got {tuple(labels.shape)}; "
                "for class indices use supervision='multiclass'"
            )
        if kind == "regression" and (labels.dim() not in (1, 2) or not labels.is_floating_point()):
            raise ValueError(
                f"regression labels must be floating point of shape (V,) or (V, K), got {labels.dtype} "
                f"{tuple(labels.shape)}; for class indices use supervision='multiclass'"
            )

    def check(self, labels: Optional[torch.Tensor], labeled_mask: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``labels`` suit this supervision kind, values included.

        ``labels`` may be ``None`` only when no view is labeled. Reading the values
        synchronises with the device: call it where labels enter (the data boundary),
        not on every training step.
        """
        if labels is None:
            if labeled_mask.any():
                raise ValueError("labels is None but labeled_mask marks labeled views; pass their labels")
            return
        self.check_kind(labels, labeled_mask.shape[0])
        known = labels[labeled_mask]  # (L, ...) labels of the labeled views
        if known.is_floating_point() and not torch.isfinite(known).all():
            rows = (~torch.isfinite(known.reshape(len(known), -1))).any(1)
            bad = labeled_mask.nonzero().squeeze(1)[rows].tolist()
            raise ValueError(f"labels of labeled views {bad} contain NaN or inf")
        if self.supervision == "multilabel" and not ((known == 0) | (known == 1)).all():
            raise ValueError("multilabel labels must be multi-hot (only 0 and 1) on labeled views")

    def __call__(self, labels_a: torch.Tensor, labels_b: torch.Tensor) -> torch.Tensor:
        """Similarity ``(Va, Vb)`` between labels ``(Va, ...)`` and ``(Vb, ...)``, times ``weight``."""
        similarity = self._unweighted(labels_a, labels_b)  # (Va, Vb) in [0, 1]
        return similarity if self.weight == 1 else self.weight * similarity

    def _unweighted(self, labels_a: torch.Tensor, labels_b: torch.Tensor) -> torch.Tensor:
        if self.supervision == "multiclass":
            return (labels_a[:, None] == labels_b[None, :]).float()  # (Va, Vb)
        if self.supervision == "multilabel":
            tags_a, tags_b = labels_a.float(), labels_b.float()  # (Va, C), (Vb, C)
            shared = tags_a @ tags_b.T  # (Va, Vb) number of shared active tags
            if self.multilabel_similarity == "threshold":
                return (shared >= self.threshold).float()  # (Va, Vb)
            sizes = tags_a.sum(1)[:, None] + tags_b.sum(1)[None, :]  # (Va, Vb) |A| + |B|
            return torch.where(sizes > 0, 2 * shared / sizes.clamp_min(1), 0.0)  # (Va, Vb)
        if self.supervision == "regression":
            dtype = torch.promote_types(labels_a.dtype, torch.float32)
            values_a = labels_a.to(dtype).reshape(len(labels_a), -1)  # (Va, K)
            values_b = labels_b.to(dtype).reshape(len(labels_b), -1)  # (Vb, K)
            distance = torch.cdist(values_a, values_b, compute_mode="donot_use_mm_for_euclid_dist")  # (Va, Vb)
            return (distance <= self.radius).float()
        similarity = torch.as_tensor(self.similarity(labels_a, labels_b), device=labels_a.device).float()
        if similarity.shape != (len(labels_a), len(labels_b)):
            raise ValueError(
                f"similarity returned shape {tuple(similarity.shape)}, expected ({len(labels_a)}, {len(labels_b)})"
            )
        if not (torch.isfinite(similarity).all() and (similarity >= 0).all() and (similarity <= 1).all()):
            raise ValueError("similarity must return finite values in [0, 1]")
        return similarity  # (Va, Vb)
