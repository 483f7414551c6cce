"""SampleCNN (Lee et al. 2017) as configured by CLMR and SemiSupCon."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from semisupcon_recipe.encoders.base import FrameEncoder

PAPER_CHANNELS = (128, 128, 128, 256, 256, 256, 256, 256, 256, 512)


NORMALIZATIONS = {
    "batch": nn.BatchNorm1d,
    "group": lambda channels: nn.GroupNorm(1, channels),
}


def _conv_norm_relu(in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, normalization: str) -> list[nn.Module]:
    return [
        nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=padding),
        NORMALIZATIONS[normalization](out_channels),
        nn.ReLU(),
    ]


class SampleCNN(FrameEncoder):
    """Raw-waveform SampleCNN: a strided stem, blocks of conv + max-pool, a last conv.

    With the paper configuration (``kernel=3``, ten channel entries) the receptive
    field is ``3 ** 10 = 59049`` samples (about 2.7 s at 22,050 Hz), which the network
    maps to one 512-d vector. Longer inputs give several frames (one every 59049
    samples), averaged by :meth:`forward`; shorter inputs are zero-padded on the right.

    Parameters
    ----------
    sample_rate : int
        Rate the encoder expects, in Hz.
    channels : sequence of int
        Output channels of the stem followed by those of each block; the last entry
        is the embedding size. Its length minus one is the number of blocks.
    kernel : int
        Kernel, stem stride and pooling size.
    normalization : str
        ``"batch"`` (the paper) or ``"group"`` (one group: statistics per example, so
        a multi-process run on CPU, where SyncBatchNorm is unavailable, computes
        exactly what one process computes on the global batch).

    Example
    -------
    >>> encoder = SampleCNN(sample_rate=16000, channels=(8, 8, 16), kernel=3)
    >>> encoder.input_length, encoder.embedding_dim
    (27, 16)
    >>> encoder(torch.randn(4, 27)).shape
    torch.Size([4, 16])
    >>> encoder.frames(torch.randn(2, 81)).shape
    torch.Size([2, 3, 16])
    >>> [tuple(stage.shape) for stage in encoder.stages(torch.randn(2, 27))]
    [(2, 8), (2, 8), (2, 16), (2, 16)]
    """

    def __init__(
        self,
        sample_rate: int = 22050,
        channels: Sequence[int] = PAPER_CHANNELS,
        kernel: int = 3,
        normalization: str = "batch",
    ) -> None:
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {sorted(NORMALIZATIONS)}, got {normalization!r}")
        channels = list(channels)
        super().__init__(sample_rate, channels[-1])
        self.input_length = kernel ** len(channels)
        layers = _conv_norm_relu(1, channels[0], kernel, stride=kernel, padding=0, normalization=normalization)
        stage_ends = [len(layers)]  # the stem, each block and the last conv end a stage
        for in_channels, out_channels in zip(channels[:-1], channels[1:]):
            layers += _conv_norm_relu(in_channels, out_channels, kernel, 1, kernel // 2, normalization)
            layers.append(nn.MaxPool1d(kernel, stride=kernel))
            stage_ends.append(len(layers))
        layers += _conv_norm_relu(channels[-1], channels[-1], kernel, 1, kernel // 2, normalization)
        stage_ends.append(len(layers))
        self.network = nn.Sequential(*layers)
        self.stage_ends = stage_ends

    def _padded(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``(B, 1, max(T, input_length))``: the network's input, zero-padded on the right."""
        if waveforms.dim() != 2:
            raise ValueError(f"SampleCNN expects (batch, samples) waveforms, got shape {tuple(waveforms.shape)}")
        missing = self.input_length - waveforms.shape[1]
        if missing > 0:
            waveforms = nn.functional.pad(waveforms, (0, missing))  # (B, input_length)
        return waveforms.unsqueeze(1)  # (B, 1, T)

    def frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Frame embeddings ``(B, T // input_length, D)``, one per ``input_length`` samples."""
        hidden = self.network(self._padded(waveforms))  # (B, D, T')
        return hidden.transpose(1, 2)  # (B, T', D)

    def stages(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        """Clip embeddings of every stage (stem, each block, last conv), each averaged over time.

        Returns ``[(B, C_0), ..., (B, D)]``, one entry per entry of ``channels`` plus
        the last conv; the last entry equals :meth:`forward`.
        """
        hidden = self._padded(waveforms)  # (B, 1, T)
        outputs, start = [], 0
        for end in self.stage_ends:
            hidden = self.network[start:end](hidden)  # (B, C_l, T_l)
            outputs.append(hidden.mean(dim=2))  # (B, C_l)
            start = end
        return outputs
