"""Negatives from the global batch: the views of every ``torch.distributed`` rank.

:func:`gather_columns` gathers the projections (with gradients), clip ids, labels and
labeled flags of all ranks, so each rank compares its anchors with the whole global batch;
ranks may hold different numbers of views.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn

from semisupcon_recipe.distributed import rank_and_world_size

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
    rank, world_size = rank_and_world_size()
    if world_size == 1:
        return Columns(z, clip_ids, labels, labeled_mask, 0, 1)
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
