"""The base of every encoder that has time-distributed frames: the clip embedding is their mean."""

from __future__ import annotations

import torch
from torch import nn


class FrameEncoder(nn.Module):
    """Waveforms ``(B, T)`` -> :meth:`frames` ``(B, T', D)`` -> their mean over time ``(B, D)``.

    Holds the two attributes every encoder has (``sample_rate`` in Hz and
    ``embedding_dim`` ``D``); a subclass calls ``super().__init__(sample_rate,
    embedding_dim)`` and defines :meth:`frames`.

    Example
    -------
    >>> class Halves(FrameEncoder):
    ...     def frames(self, waveforms):
    ...         return waveforms.view(waveforms.shape[0], -1, 1)  # (B, T, 1): each sample a frame
    >>> Halves(sample_rate=8000, embedding_dim=1)(torch.tensor([[1.0, 3.0], [0.0, 4.0]]))
    tensor([[2.],
            [2.]])
    """

    def __init__(self, sample_rate: int, embedding_dim: int) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.embedding_dim = int(embedding_dim)

    def frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Time-distributed embeddings ``(B, T', D)`` of waveforms ``(B, T)``."""
        raise NotImplementedError(f"{type(self).__name__} must define frames(waveforms) -> (B, T', D)")

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Clip embeddings ``(B, D)``: the mean of :meth:`frames` over time."""
        return self.frames(waveforms).mean(dim=1)  # (B, D)
