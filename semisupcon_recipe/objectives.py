"""The SemiSupCon objective: target matrix, loss and cross-device negatives.

A batch holds ``V`` views (rows); each row carries the id of its clip, a label and a
flag saying whether that label is known. Two different views are positives with weight 1
when they come from the same clip, with weight ``sim(y_u, y_v)`` in [0, 1] when both are
labeled, and are negatives otherwise (METHOD.md sections 2-3)::

    L_u = - sum_v w_uv [ s_uv - logsumexp_{k != u} s_uk ] / sum_v w_uv
    L   = mean of L_u over the anchors u with sum_v w_uv > 0

with ``s_uv`` the cosine similarity over a temperature. With no labels and two views it
is SimCLR's NT-Xent; with every clip labeled (multi-class) it is SupCon's L_out.

Label comparisons use matrix products (shared tags = ``Y @ Y.T``), so memory stays
``O(V^2)`` whatever the number of tags. With ``gather_across_devices=True`` under
``torch.distributed`` the negatives are the global batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
import torch.nn.functional as F

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

    Example
    -------
    >>> tags = torch.tensor([[1., 1., 0.], [1., 0., 0.], [0., 0., 1.]])
    >>> LabelSimilarity("multilabel", threshold=1)(tags, tags)
    tensor([[1., 1., 0.],
            [1., 1., 0.],
            [0., 0., 1.]])
    >>> LabelSimilarity("multilabel", "dice")(tags, tags)[0]
    tensor([1.0000, 0.6667, 0.0000])
    """

    supervision: str = "multilabel"
    multilabel_similarity: str = "threshold"
    threshold: float = 1
    radius: float = 0.5
    similarity: Optional[SimilarityFn] = None

    def __post_init__(self) -> None:
        if self.supervision not in SUPERVISIONS:
            raise ValueError(f"unknown supervision {self.supervision!r}; use one of {SUPERVISIONS}")
        if self.multilabel_similarity not in MULTILABEL_SIMILARITIES:
            raise ValueError(
                f"unknown multilabel_similarity {self.multilabel_similarity!r}; use one of {MULTILABEL_SIMILARITIES}"
            )
        if not self.threshold > 0:
            raise ValueError(f"threshold must be a positive number of shared tags, got {self.threshold}")
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
        """Similarity ``(Va, Vb)`` between labels ``(Va, ...)`` and ``(Vb, ...)``."""
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


def _target_block(
    row_ids: torch.Tensor,
    row_labels: Optional[torch.Tensor],
    row_mask: torch.Tensor,
    col_ids: torch.Tensor,
    col_labels: Optional[torch.Tensor],
    col_mask: torch.Tensor,
    first_row: int,
    similarity: LabelSimilarity,
) -> torch.Tensor:
    """Positive weights (Vr, Vc) of anchors (rows) against candidate views (columns), where
    row ``i`` is column ``first_row + i`` (weight 0). Inputs are assumed checked.

    Built kinds (multiclass, multilabel, regression) compare every pair and keep the
    labeled ones with a mask, so no step waits for the device; a ``callable``
    similarity sees only labeled views, which costs one synchronisation.
    """
    weights = torch.zeros(len(row_ids), len(col_ids), device=row_ids.device)  # (Vr, Vc)
    if row_labels is not None and col_labels is not None:
        if similarity.supervision == "callable":
            rows, cols = row_mask.nonzero().squeeze(1), col_mask.nonzero().squeeze(1)  # (Lr,), (Lc,) labeled
            if len(rows) and len(cols):
                labeled_rows = torch.zeros(len(rows), len(col_ids), device=row_ids.device)  # (Lr, Vc)
                labeled_rows.index_copy_(1, cols, similarity(row_labels[rows], col_labels[cols]))  # (Lr, Lc)
                weights.index_copy_(0, rows, labeled_rows)
        else:
            both = row_mask[:, None] & col_mask[None, :]  # (Vr, Vc) both labeled
            pairs = similarity(_blank_unlabeled(row_labels, row_mask), _blank_unlabeled(col_labels, col_mask))
            weights = torch.where(both, pairs, weights)  # (Vr, Vc)
    weights.masked_fill_(row_ids[:, None] == col_ids[None, :], 1.0)  # same clip: 1 whatever the labels
    weights.diagonal(first_row).fill_(0.0)  # never the anchor itself
    return weights


def _blank_unlabeled(labels: torch.Tensor, labeled_mask: torch.Tensor) -> torch.Tensor:
    """``labels`` (V, ...) with the placeholders of unlabeled views set to 0 (they may be NaN)."""
    if not labels.is_floating_point():
        return labels
    return labels.masked_fill(~labeled_mask.reshape(-1, *([1] * (labels.dim() - 1))), 0.0)


def check_view_shapes(clip_ids: torch.Tensor, labels: Optional[torch.Tensor], labeled_mask: torch.Tensor) -> None:
    """Raise ``ValueError`` unless the dtypes and shapes of a batch of views agree.

    Reads only metadata (no host-device synchronisation): :class:`SemiSupConLoss` runs
    it on every step; :func:`check_views` adds the checks that read values.

    Example
    -------
    >>> check_view_shapes(torch.tensor([0, 0, 1]), None, torch.zeros(2, dtype=torch.bool))
    Traceback (most recent call last):
    ...
    ValueError: labeled_mask must be bool of shape (3,) (one flag per view), got torch.bool (2,)
    """
    if clip_ids.dim() != 1 or clip_ids.is_floating_point() or clip_ids.dtype == torch.bool:
        raise ValueError(f"clip_ids must be integer of shape (V,), got {clip_ids.dtype} {tuple(clip_ids.shape)}")
    if labeled_mask.dtype != torch.bool or labeled_mask.shape != clip_ids.shape:
        raise ValueError(
            f"labeled_mask must be bool of shape {tuple(clip_ids.shape)} (one flag per view), "
            f"got {labeled_mask.dtype} {tuple(labeled_mask.shape)}"
        )
    if labels is not None and (labels.dim() == 0 or labels.shape[0] != len(clip_ids)):
        raise ValueError(f"labels has shape {tuple(labels.shape)}, expected one row per view ({len(clip_ids)})")


def check_views(clip_ids: torch.Tensor, labels: Optional[torch.Tensor], labeled_mask: torch.Tensor) -> None:
    """Raise ``ValueError`` unless clip ids, labels and mask describe one batch of views.

    Adds to :func:`check_view_shapes` the checks that read values (every clip has at
    least two views), which synchronise with the device: run it where batches are made.

    Example
    -------
    >>> check_views(torch.tensor([0, 0, 1]), None, torch.zeros(3, dtype=torch.bool))
    Traceback (most recent call last):
    ...
    ValueError: clip(s) [1] have fewer than 2 views; every clip needs N >= 2 views in the batch
    """
    check_view_shapes(clip_ids, labels, labeled_mask)
    clips, counts = torch.unique(clip_ids, return_counts=True)
    if (counts < 2).any():
        raise ValueError(
            f"clip(s) {clips[counts < 2].tolist()} have fewer than 2 views; every clip needs N >= 2 views in the batch"
        )


def target_matrix(
    clip_ids: torch.Tensor,
    labels: Optional[torch.Tensor],
    labeled_mask: torch.Tensor,
    supervision: str = "multilabel",
    multilabel_similarity: str = "threshold",
    threshold: float = 1,
    radius: float = 0.5,
    similarity: Optional[SimilarityFn] = None,
) -> torch.Tensor:
    """Target matrix ``M`` (V, V) of a batch: positive weights in [0, 1], diagonal 0.

    ``M_uv`` is 1 when views u and v come from the same clip, ``sim(y_u, y_v)`` when both
    are labeled (see :class:`LabelSimilarity`), else 0. Rows need not be ordered.

    Parameters
    ----------
    clip_ids : torch.Tensor
        Long ``(V,)``, the clip of each view.
    labels : torch.Tensor or None
        ``(V,)`` or ``(V, C)`` as the supervision kind needs; any value where unlabeled.
        ``None`` when no view is labeled.
    labeled_mask : torch.Tensor
        Bool ``(V,)``, True where the view's label is known.
    supervision, multilabel_similarity, threshold, radius, similarity
        See :class:`LabelSimilarity`.

    Returns
    -------
    torch.Tensor
        Float ``(V, V)``.

    Example
    -------
    >>> clip_ids = torch.tensor([0, 0, 1, 1, 2, 2])
    >>> labels = torch.tensor([7, 7, 7, 7, -1, -1])
    >>> labeled = torch.tensor([True, True, True, True, False, False])
    >>> target_matrix(clip_ids, labels, labeled, supervision="multiclass")
    tensor([[0., 1., 1., 1., 0., 0.],
            [1., 0., 1., 1., 0., 0.],
            [1., 1., 0., 1., 0., 0.],
            [1., 1., 1., 0., 0., 0.],
            [0., 0., 0., 0., 0., 1.],
            [0., 0., 0., 0., 1., 0.]])
    """
    label_similarity = LabelSimilarity(supervision, multilabel_similarity, threshold, radius, similarity)
    check_views(clip_ids, labels, labeled_mask)
    label_similarity.check(labels, labeled_mask)
    return _target_block(clip_ids, labels, labeled_mask, clip_ids, labels, labeled_mask, 0, label_similarity)


class Columns(NamedTuple):
    """The candidate views every local anchor is compared with (the global batch)."""

    z: torch.Tensor  # (Vg, D) unit projections, local rows keep their gradients
    clip_ids: torch.Tensor  # (Vg,) globally unique clip ids
    labels: Optional[torch.Tensor]  # (Vg, ...)
    labeled_mask: torch.Tensor  # (Vg,)
    first_row: int  # column of the first local row
    world_size: int


def gather_columns(
    z: torch.Tensor, clip_ids: torch.Tensor, labels: Optional[torch.Tensor], labeled_mask: torch.Tensor
) -> Columns:
    """Gather the views of all ranks (``z`` with gradients); ranks may hold different V.

    All views of a clip must be on one rank. Clip ids become globally unique as
    ``rank * max_V + (index of the clip on its rank)``. Every rank must pass labels of the
    same dtype and trailing shape (or all ``None``).
    Without an initialised process group of several ranks, returns the local views.

    Example
    -------
    >>> z = torch.randn(4, 3)
    >>> columns = gather_columns(z, torch.tensor([5, 5, 9, 9]), None, torch.zeros(4, dtype=torch.bool))
    >>> columns.z is z, columns.first_row, columns.world_size
    (True, 0, 1)
    """
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return Columns(z, clip_ids, labels, labeled_mask, 0, 1)
    world_size, rank = dist.get_world_size(), dist.get_rank()
    sizes = [torch.zeros(1, dtype=torch.long, device=z.device) for _ in range(world_size)]
    dist.all_gather(sizes, torch.tensor([len(z)], device=z.device))
    sizes = [int(size) for size in torch.cat(sizes).tolist()]
    longest = max(sizes)

    def gather(local: torch.Tensor, with_gradients: bool = False) -> torch.Tensor:
        sendable = local.to(torch.uint8) if local.dtype == torch.bool else local  # gloo has no bool
        padded = torch.cat([sendable, sendable.new_zeros((longest - len(local), *local.shape[1:]))])  # (max V, ...)
        if with_gradients:
            pieces = dist_nn.all_gather(padded)
        else:
            pieces = [torch.empty_like(padded) for _ in range(world_size)]
            dist.all_gather(pieces, padded)
        return torch.cat([piece[:size] for piece, size in zip(pieces, sizes)]).to(local.dtype)  # (Vg, ...)

    local_clips = torch.unique(clip_ids, return_inverse=True)[1] + rank * longest  # (V,)
    return Columns(
        gather(z, with_gradients=True),
        gather(local_clips),
        None if labels is None else gather(labels),
        gather(labeled_mask),
        sum(sizes[:rank]),
        world_size,
    )


class SemiSupConLoss(torch.nn.Module):
    """SemiSupCon loss: contrastive loss with same-clip and label-derived positives.

    Called like SupCon's loss: ``loss(features)`` with ``features`` ``(B, N, D)`` (N views
    of B clips) is self-supervised; ``loss(features, labels)`` with per-clip labels
    ``(B,)`` or ``(B, C)`` is supervised, and ``labeled_mask`` ``(B,)`` marks which clips'
    labels are known (semi-supervised). With ``z`` ``(V, D)`` in any order, pass per-view
    ``clip_ids`` ``(V,)``, ``labels`` and ``labeled_mask`` as in :func:`target_matrix`.

    A training step never waits for the device: ``forward`` checks only dtypes and
    shapes, and computes statistics only when asked (``statistics=True``, the Brain's
    logging steps). Label values are validated where they enter: manifests by
    :meth:`~semisupcon_recipe.manifest.LabelVocabulary.encode`, hand-built tensors by
    :meth:`check_batch`. A non-finite ``z`` gives a non-finite loss, which the Brain's
    non-finite loss check stops on.

    Parameters
    ----------
    temperature : float
        Softmax temperature tau (> 0) of the cosine similarities.
    supervision, multilabel_similarity, threshold, radius, similarity
        How labels make positives, see :class:`LabelSimilarity`.
    gather_across_devices : bool
        Under ``torch.distributed`` with several ranks, compare the local anchors with
        the views of every rank (see :func:`gather_columns`; each rank keeps all views of
        its clips and may hold a different number of views). The returned per-rank loss is scaled so that DDP's
        gradient averaging yields the gradient of the global-batch loss; the mean of
        the per-rank losses is the global loss.

    Attributes
    ----------
    last_statistics : dict of str to float, or None
        After a forward with ``statistics=True`` (else ``None``), over this rank's
        anchors: ``loss``, ``loss_labeled`` and ``loss_unlabeled`` (mean ``L_u``, nan
        when there is no such anchor), ``positives_self`` and ``positives_label`` (mean
        same-clip count and label-derived weight per anchor), ``labeled_fraction``.

    Example
    -------
    >>> loss_fn = SemiSupConLoss(temperature=1.0, supervision="multiclass")
    >>> features = torch.tensor([[[1., 0.], [1., 0.]], [[0., 1.], [0., 1.]]])  # (B=2, N=2, D=2)
    >>> round(loss_fn(features).item(), 4)  # log(e + 2) - 1
    0.5514
    >>> loss_fn.last_statistics is None
    True
    >>> z, clip_ids = features.reshape(4, 2), torch.tensor([0, 0, 1, 1])
    >>> labels, labeled = torch.tensor([3, 3, -1, -1]), torch.tensor([True, True, False, False])
    >>> round(loss_fn(z, clip_ids, labels, labeled, statistics=True).item(), 4)
    0.5514
    >>> loss_fn.last_statistics["positives_self"], loss_fn.last_statistics["labeled_fraction"]
    (1.0, 0.5)
    """

    def __init__(
        self,
        temperature: float = 0.1,
        supervision: str = "multilabel",
        multilabel_similarity: str = "threshold",
        threshold: float = 1,
        radius: float = 0.5,
        similarity: Optional[SimilarityFn] = None,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.label_similarity = LabelSimilarity(supervision, multilabel_similarity, threshold, radius, similarity)
        self.gather_across_devices = gather_across_devices
        self.last_statistics: Optional[dict[str, float]] = None

    def check_batch(
        self,
        z: torch.Tensor,
        clip_ids: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        labeled_mask: Optional[torch.Tensor] = None,
    ) -> None:
        """Raise ``ValueError`` unless a batch is valid, values included (finite ``z``,
        two views per clip, label values of the supervision kind). It synchronises with
        the device: call it once where batches are made, not on every step.

        Example
        -------
        >>> SemiSupConLoss(supervision="multilabel").check_batch(torch.zeros(2, 2, 3), labels=torch.full((2, 4), 0.5))
        Traceback (most recent call last):
        ...
        ValueError: multilabel labels must be multi-hot (only 0 and 1) on labeled views
        """
        z, clip_ids, labels, labeled_mask = self._views(z, clip_ids, labels, labeled_mask)
        if not torch.isfinite(z).all():
            raise ValueError("z contains NaN or inf; check the encoder output (learning rate, fp16 overflow)")
        check_views(clip_ids, labels, labeled_mask)
        self.label_similarity.check(labels, labeled_mask)

    def _views(
        self,
        z: torch.Tensor,
        clip_ids: Optional[torch.Tensor],
        labels: Optional[torch.Tensor],
        labeled_mask: Optional[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        """Per-view ``(z (V, D), clip_ids (V,), labels (V, ...), labeled_mask (V,))``, shapes checked."""
        if clip_ids is None:
            if z.dim() != 3 or z.shape[1] < 2:
                raise ValueError(
                    f"without clip_ids, z must be (B, N, D) with N >= 2 views per clip, got {tuple(z.shape)}"
                )
            num_clips, num_views = z.shape[:2]
            z = z.reshape(num_clips * num_views, z.shape[2])  # (V, D) clip-major
            clip_ids = torch.arange(num_clips, device=z.device).repeat_interleave(num_views)  # (V,)
            if labels is not None:
                if labels.dim() == 0 or labels.shape[0] != num_clips:
                    raise ValueError(f"labels has shape {tuple(labels.shape)}, expected one row per clip ({num_clips})")
                labels = labels.repeat_interleave(num_views, dim=0)  # (V, ...)
            if labeled_mask is not None:
                if labeled_mask.shape != (num_clips,):
                    raise ValueError(
                        f"labeled_mask must have shape ({num_clips},) (one flag per clip), got {tuple(labeled_mask.shape)}"
                    )
                labeled_mask = labeled_mask.repeat_interleave(num_views)  # (V,)
        if z.dim() != 2 or len(z) != len(clip_ids):
            raise ValueError(f"z must be (V, D) with V = len(clip_ids) = {len(clip_ids)}, got {tuple(z.shape)}")
        if labeled_mask is None:
            labeled_mask = torch.full((len(clip_ids),), labels is not None, dtype=torch.bool, device=z.device)  # (V,)
        check_view_shapes(clip_ids, labels, labeled_mask)
        self.label_similarity.check_kind(labels, len(clip_ids))
        return z, clip_ids, labels, labeled_mask

    def forward(
        self,
        z: torch.Tensor,
        clip_ids: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        labeled_mask: Optional[torch.Tensor] = None,
        statistics: bool = False,
    ) -> torch.Tensor:
        """Loss of projections ``z``: ``(B, N, D)`` with per-clip ``labels`` and
        ``labeled_mask``, or ``(V, D)`` with per-view ``clip_ids``, ``labels`` and
        ``labeled_mask`` (see :func:`target_matrix`). ``labels=None``: no view is labeled;
        ``labeled_mask=None``: every view with a label is labeled. Returns a float32 (or
        wider) scalar; ``statistics=True`` also fills :attr:`last_statistics`."""
        z, clip_ids, labels, labeled_mask = self._views(z, clip_ids, labels, labeled_mask)
        with torch.autocast(z.device.type, enabled=False):
            z = F.normalize(z.to(torch.promote_types(z.dtype, torch.float32)), dim=1)  # (V, D) unit rows
            local = Columns(z, clip_ids, labels, labeled_mask, first_row=0, world_size=1)
            columns = gather_columns(z, clip_ids, labels, labeled_mask) if self.gather_across_devices else local
            first_row = columns.first_row  # column of the first local anchor itself
            logits = (z / self.temperature) @ columns.z.T  # (V, Vg) s_uv
            logits.diagonal(first_row).fill_(float("-inf"))  # k != u
            log_prob = logits - logits.logsumexp(1, keepdim=True)  # (V, Vg)
            log_prob.diagonal(first_row).fill_(0.0)  # the anchor itself never weighs
            weights = _target_block(
                columns.clip_ids[first_row : first_row + len(z)], labels, labeled_mask, columns.clip_ids,
                columns.labels, columns.labeled_mask, first_row, self.label_similarity,
            )  # (V, Vg) w_uv
            positives = weights.sum(1)  # (V,) sum_v w_uv
            valid = positives > 0  # (V,)
            anchor_loss = -(weights * log_prob).sum(1) / positives.where(valid, 1.0)  # (V,) L_u, 0 if not valid
            valid_count = valid.sum()
            if columns.world_size > 1:
                dist.all_reduce(valid_count)
            loss = anchor_loss.sum() * columns.world_size / valid_count
        self.last_statistics = self._statistics(anchor_loss, positives, clip_ids, labeled_mask) if statistics else None
        return loss

    @staticmethod
    @torch.no_grad()
    def _statistics(
        anchor_loss: torch.Tensor, positives: torch.Tensor, clip_ids: torch.Tensor, labeled_mask: torch.Tensor
    ) -> dict[str, float]:
        valid = positives > 0  # (V,)
        _, clip_of_view, views_per_clip = torch.unique(clip_ids, return_inverse=True, return_counts=True)
        same_clip = views_per_clip[clip_of_view] - 1  # (V,) other views of each anchor's clip
        values = torch.stack([
            anchor_loss[valid].mean(),
            anchor_loss[valid & labeled_mask].mean(),
            anchor_loss[valid & ~labeled_mask].mean(),
            same_clip.float().mean(),
            (positives - same_clip).mean(),
            labeled_mask.float().mean(),
        ]).tolist()
        names = ("loss", "loss_labeled", "loss_unlabeled", "positives_self", "positives_label", "labeled_fraction")
        return dict(zip(names, values))
