"""The SemiSupCon objective: the target matrix and the loss.

A batch holds ``V`` views (rows); each row carries the id of its clip, a label and a
flag saying whether that label is known. Two different views are positives with weight 1
when they come from the same clip, with weight ``sim(y_u, y_v)`` in [0, 1] when both are
labeled, and are negatives otherwise (METHOD.md sections 2-3)::

    L_u = - sum_v w_uv [ s_uv - logsumexp_{k != u} s_uk ] / sum_v w_uv
    L   = mean of L_u over the anchors u with sum_v w_uv > 0

with ``s_uv`` the cosine similarity over a temperature. With no labels and two views it
is SimCLR's NT-Xent; with every clip labeled (multi-class) it is SupCon's L_out.

Label similarities (:mod:`~semisupcon_recipe.label_similarity`) use matrix products
(shared tags = ``Y @ Y.T``), so memory stays ``O(V^2)`` whatever the number of tags.
With ``gather_across_devices=True`` under ``torch.distributed`` the negatives are the
global batch (:mod:`~semisupcon_recipe.cross_device`).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F

from semisupcon_recipe.cross_device import Columns, gather_columns
from semisupcon_recipe.label_similarity import LabelSimilarity, SimilarityFn


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
    label_weight: float = 1.0,
) -> torch.Tensor:
    """Target matrix ``M`` (V, V) of a batch: positive weights in [0, 1], diagonal 0.

    ``M_uv`` is 1 when views u and v come from the same clip, ``sim(y_u, y_v)`` when both
    are labeled (see :class:`LabelSimilarity`; times ``label_weight``), else 0. Rows need
    not be ordered.

    Parameters
    ----------
    clip_ids : torch.Tensor
        Long ``(V,)``, the clip of each view.
    labels : torch.Tensor or None
        ``(V,)`` or ``(V, C)`` as the supervision kind needs; any value where unlabeled.
        ``None`` when no view is labeled.
    labeled_mask : torch.Tensor
        Bool ``(V,)``, True where the view's label is known.
    supervision, multilabel_similarity, threshold, radius, similarity, label_weight
        See :class:`LabelSimilarity` (``label_weight`` is its ``weight``).

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
    label_similarity = LabelSimilarity(supervision, multilabel_similarity, threshold, radius, similarity, label_weight)
    check_views(clip_ids, labels, labeled_mask)
    label_similarity.check(labels, labeled_mask)
    return _target_block(clip_ids, labels, labeled_mask, clip_ids, labels, labeled_mask, 0, label_similarity)


class Views(NamedTuple):
    """One batch of views, row by row (see :func:`target_matrix`)."""

    z: torch.Tensor  # (V, D) projections
    clip_ids: torch.Tensor  # (V,) the clip of each view
    labels: Optional[torch.Tensor]  # (V,) or (V, C), None when no view is labeled
    labeled_mask: torch.Tensor  # (V,) True where the label is known


def per_view(
    z: torch.Tensor, clip_ids: Optional[torch.Tensor] = None,
    labels: Optional[torch.Tensor] = None, labeled_mask: Optional[torch.Tensor] = None,
) -> Views:
    """The views of a batch given SupCon's way or row by row, shapes checked (no device sync).

    ``z`` ``(B, N, D)`` without ``clip_ids``: N views of B clips, with per-clip ``labels``
    ``(B, ...)`` and ``labeled_mask`` ``(B,)``; ``z`` ``(V, D)`` with per-view ``clip_ids``,
    ``labels`` and ``labeled_mask``. ``labeled_mask=None``: every view with a label is labeled.

    Example
    -------
    >>> views = per_view(torch.zeros(2, 3, 4), labels=torch.tensor([5, 6]))
    >>> views.z.shape, views.clip_ids.tolist(), views.labels.tolist(), views.labeled_mask.all().item()
    (torch.Size([6, 4]), [0, 0, 0, 1, 1, 1], [5, 5, 5, 6, 6, 6], True)
    """
    if clip_ids is None:
        z, clip_ids, labels, labeled_mask = _clip_major(z, labels, labeled_mask)
    if z.dim() != 2 or len(z) != len(clip_ids):
        raise ValueError(f"z must be (V, D) with V = len(clip_ids) = {len(clip_ids)}, got {tuple(z.shape)}")
    if labeled_mask is None:
        labeled_mask = torch.full((len(clip_ids),), labels is not None, dtype=torch.bool, device=z.device)  # (V,)
    check_view_shapes(clip_ids, labels, labeled_mask)
    return Views(z, clip_ids, labels, labeled_mask)


def _clip_major(z: torch.Tensor, labels: Optional[torch.Tensor], mask: Optional[torch.Tensor]) -> tuple:
    """``(z (V, D), clip_ids (V,), labels (V, ...), mask (V,))`` of ``z`` ``(B, N, D)`` and per-clip labels and mask."""
    if z.dim() != 3 or z.shape[1] < 2:
        raise ValueError(f"without clip_ids, z must be (B, N, D) with N >= 2 views per clip, got {tuple(z.shape)}")
    num_clips, num_views = z.shape[:2]
    clip_ids = torch.arange(num_clips, device=z.device).repeat_interleave(num_views)  # (V,)
    if labels is not None:
        if labels.dim() == 0 or labels.shape[0] != num_clips:
            raise ValueError(f"labels has shape {tuple(labels.shape)}, expected one row per clip ({num_clips})")
        labels = labels.repeat_interleave(num_views, dim=0)  # (V, ...)
    if mask is not None:
        if mask.shape != (num_clips,):
            raise ValueError(f"labeled_mask must have shape ({num_clips},) (one flag per clip), got {tuple(mask.shape)}")
        mask = mask.repeat_interleave(num_views)  # (V,)
    return z.reshape(num_clips * num_views, z.shape[2]), clip_ids, labels, mask  # z: (V, D) clip-major


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
    supervision, multilabel_similarity, threshold, radius, similarity, label_weight
        How labels make positives, see :class:`LabelSimilarity` (``label_weight`` is its ``weight``).
    label_dims : int or None
        ``None`` (the paper): one loss on the whole projection. ``k``: the target matrix
        (same-clip and label-derived positives) acts on the first ``k`` dimensions of
        the projection and same-clip positives alone (NT-Xent) on the others, each part
        normalised on its own; the loss is the sum of the two. The projection head then
        works as two heads sharing their hidden layer. On the demo (key labels, 32 of 64
        dimensions) the instrument probe no longer lost, tempo lost less (-3.7 points
        against -5.6) and the key gain shrank from +8.8 to +3.3: a trade, not a free
        gain (``docs/findings.md``). Must be below the projection's width.
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
        label_weight: float = 1.0,
        label_dims: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if label_dims is not None and (isinstance(label_dims, bool) or not isinstance(label_dims, int) or label_dims < 1):
            raise ValueError(f"label_dims must be null or a positive number of projection dimensions, got {label_dims!r}")
        self.temperature = float(temperature)
        self.label_dims = label_dims
        self.label_similarity = LabelSimilarity(supervision, multilabel_similarity, threshold, radius, similarity, label_weight)
        self.gather_across_devices = gather_across_devices
        self.last_statistics: Optional[dict[str, float]] = None

    def check_batch(self, *batch: Optional[torch.Tensor], **named: Optional[torch.Tensor]) -> None:
        """Raise ``ValueError`` unless the batch ``forward(*batch, **named)`` would get is
        valid, values included (finite ``z``, two views per clip, label values of the
        supervision kind). It synchronises with the device: call it once where batches
        are made, not on every step.

        Example
        -------
        >>> SemiSupConLoss(supervision="multilabel").check_batch(torch.zeros(2, 2, 3), labels=torch.full((2, 4), 0.5))
        Traceback (most recent call last):
        ...
        ValueError: multilabel labels must be multi-hot (only 0 and 1) on labeled views
        """
        views = per_view(*batch, **named)
        self.label_similarity.check_kind(views.labels, len(views.clip_ids))
        if not torch.isfinite(views.z).all():
            raise ValueError("z contains NaN or inf; check the encoder output (learning rate, fp16 overflow)")
        check_views(views.clip_ids, views.labels, views.labeled_mask)
        self.label_similarity.check(views.labels, views.labeled_mask)

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
        z, clip_ids, labels, labeled_mask = per_view(z, clip_ids, labels, labeled_mask)
        self.label_similarity.check_kind(labels, len(clip_ids))
        split = self._split(z.shape[1])
        with torch.autocast(z.device.type, enabled=False):
            z = z.to(torch.promote_types(z.dtype, torch.float32))  # (V, D)
            z = torch.cat([F.normalize(part, dim=1) for part in z.split(split, dim=1)], dim=1)  # (V, D) unit parts
            local = Columns(z, clip_ids, labels, labeled_mask, first_row=0, world_size=1)
            columns = gather_columns(z, clip_ids, labels, labeled_mask) if self.gather_across_devices else local
            first_row = columns.first_row  # column of the first local anchor itself
            row_ids = columns.clip_ids[first_row : first_row + len(z)]  # (V,)
            weights = _target_block(
                row_ids, labels, labeled_mask, columns.clip_ids, columns.labels, columns.labeled_mask,
                first_row, self.label_similarity,
            )  # (V, Vg) w_uv
            positives = weights.sum(1)  # (V,) sum_v w_uv
            valid = positives > 0  # (V,)
            anchor_loss = self._anchor_loss(z[:, : split[0]], columns.z[:, : split[0]], weights, first_row)  # (V,)
            if len(split) == 2:  # the other dimensions: same-clip positives only
                same_clip = _target_block(
                    row_ids, None, labeled_mask, columns.clip_ids, None, columns.labeled_mask,
                    first_row, self.label_similarity,
                )  # (V, Vg)
                anchor_loss = anchor_loss + self._anchor_loss(z[:, split[0] :], columns.z[:, split[0] :], same_clip, first_row)
            valid_count = valid.sum()
            if columns.world_size > 1:
                dist.all_reduce(valid_count)
            loss = anchor_loss.sum() * columns.world_size / valid_count
        self.last_statistics = self._statistics(anchor_loss, positives, clip_ids, labeled_mask) if statistics else None
        return loss

    def _split(self, width: int) -> list[int]:
        """Widths of the projection's parts: ``[width]``, or ``[label_dims, width - label_dims]``."""
        if self.label_dims is None:
            return [width]
        if self.label_dims >= width:
            raise ValueError(
                f"label_dims {self.label_dims} leaves no dimension of the {width}-wide projection to the "
                f"same-clip positives; choose label_dims below {width} (or null: one loss on every dimension)"
            )
        return [self.label_dims, width - self.label_dims]

    def _anchor_loss(self, z: torch.Tensor, columns: torch.Tensor, weights: torch.Tensor, first_row: int) -> torch.Tensor:
        """``L_u`` ``(V,)`` of unit anchors ``z`` ``(V, d)`` against unit ``columns`` ``(Vg, d)`` under
        positive ``weights`` ``(V, Vg)``; 0 for anchors without positives."""
        logits = (z / self.temperature) @ columns.T  # (V, Vg) s_uv
        logits.diagonal(first_row).fill_(float("-inf"))  # k != u
        log_prob = logits - logits.logsumexp(1, keepdim=True)  # (V, Vg)
        log_prob.diagonal(first_row).fill_(0.0)  # the anchor itself never weighs
        positives = weights.sum(1)  # (V,)
        return -(weights * log_prob).sum(1) / positives.where(positives > 0, 1.0)  # (V,)

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
