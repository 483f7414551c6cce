"""This process's place in a ``torch.distributed`` run, asked of the process group itself,
and steps run on the main process first.

The launcher's environment variables (``RANK``, ``WORLD_SIZE``) may say one thing while
no process group is initialised (a script run inside a torchrun job, a test); only the
initialised group says which slice of the global batch this process trains on.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import torch.distributed as dist
from speechbrain.utils.distributed import ddp_barrier, if_main_process, is_distributed_initialized

T = TypeVar("T")


def rank_and_world_size() -> tuple[int, int]:
    """``(rank, world size)`` of the initialised process group, ``(0, 1)`` without one.

    Example
    -------
    >>> rank_and_world_size()
    (0, 1)
    """
    if is_distributed_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def main_process_first(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)`` on the main process, then (after a barrier) on the others.

    For steps whose first call writes files the later calls read back (the label
    vocabulary, the ``p_s`` draw): every process gets the result of its own call.

    Example
    -------
    >>> main_process_first(max, 2, 3)
    3
    """
    main = if_main_process()
    result = function(*args, **kwargs) if main else None
    ddp_barrier()
    return result if main else function(*args, **kwargs)
