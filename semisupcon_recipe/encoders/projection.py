"""The projection head between the encoder and the contrastive objective."""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """``Linear(D, H, no bias) - ReLU - Linear(H, P, no bias)`` as in SimCLR/CLMR.

    Downstream probes use the encoder output, never this projection.

    Parameters
    ----------
    input_dim, hidden_dim, output_dim : int
        ``D``, ``H`` and ``P`` (the paper: 512, 512, 128).

    Example
    -------
    >>> head = ProjectionHead(512, 512, 128)
    >>> head(torch.randn(3, 512)).shape
    torch.Size([3, 128])
    """

    def __init__(self, input_dim: int = 512, hidden_dim: int = 512, output_dim: int = 128) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_dim, hidden_dim, bias=False),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim, bias=False),
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Project ``(B, D)`` embeddings to ``(B, P)``."""
        return self.layers(embeddings)
