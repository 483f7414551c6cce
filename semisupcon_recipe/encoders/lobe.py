"""Use any SpeechBrain lobe (ECAPA, x-vector, CRDNN...) on features as a SemiSupCon encoder."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from semisupcon_recipe.encoders.base import FrameEncoder


class SpeechBrainLobeEncoder(FrameEncoder):
    """Waveforms -> features -> (optional normalisation) -> lobe -> pooled embedding.

    Lobes return ``(B, 1, D)`` (x-vector, ECAPA), ``(B, T', D)`` (frame models) or
    ``(B, D)``; :meth:`forward` always gives ``(B, D)`` by averaging over time and
    :meth:`frames` the ``(B, T', D)`` sequence (a single frame for pooled lobes).

    Parameters
    ----------
    features : nn.Module
        Waveform ``(B, T)`` to features ``(B, T', F)``, e.g. ``speechbrain.lobes.features.Fbank``.
    lobe : nn.Module
        Features ``(B, T', F)`` to ``(B, T'', D)`` or ``(B, D)``.
    sample_rate : int
        Rate the features expect, in Hz.
    embedding_dim : int
        ``D``.
    normalize : nn.Module, optional
        Feature normalisation, called as ``normalize(features, lengths)`` like
        ``speechbrain.processing.features.InputNormalization``.

    Example
    -------
    >>> from speechbrain.lobes.features import Fbank
    >>> from speechbrain.lobes.models.Xvector import Xvector
    >>> encoder = SpeechBrainLobeEncoder(
    ...     features=Fbank(n_mels=40, sample_rate=16000),
    ...     lobe=Xvector(in_channels=40, tdnn_channels=[32, 32, 32, 32, 64], lin_neurons=48),
    ...     sample_rate=16000, embedding_dim=48)
    >>> encoder(torch.randn(2, 16000)).shape
    torch.Size([2, 48])
    >>> [tuple(stage.shape) for stage in encoder.stages(torch.randn(2, 16000))]  # 5 TDNN layers, then the embedding
    [(2, 32), (2, 32), (2, 32), (2, 32), (2, 64), (2, 48)]
    """

    def __init__(
        self,
        features: nn.Module,
        lobe: nn.Module,
        sample_rate: int,
        embedding_dim: int,
        normalize: nn.Module | None = None,
    ) -> None:
        super().__init__(sample_rate, embedding_dim)
        self.features = features
        self.normalize = normalize
        self.lobe = lobe

    def compute_features(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Normalised features ``(B, T', F)`` of waveforms ``(B, T)`` (what the lobe reads)."""
        features = self.features(waveforms)  # (B, T', F)
        if self.normalize is not None:
            lengths = torch.ones(features.shape[0], device=features.device)  # (B,)
            features = self.normalize(features, lengths)
        return features

    def encode_features(self, features: torch.Tensor) -> torch.Tensor:
        """The lobe on features ``(B, T', F)``: time-distributed embeddings ``(B, T'', D)``."""
        output = self.lobe(features)  # (B, T'', D) or (B, D)
        if output.dim() == 2:
            output = output.unsqueeze(1)  # (B, 1, D)
        if output.shape[-1] != self.embedding_dim:
            raise ValueError(
                f"the lobe returned {output.shape[-1]} features but embedding_dim is {self.embedding_dim}; "
                "set embedding_dim in the yaml to the lobe's output size"
            )
        return output

    def frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Time-distributed embeddings ``(B, T', D)``."""
        return self.encode_features(self.compute_features(waveforms))

    def _stage_layers(self) -> list[tuple[nn.Module, Callable[[Any], torch.Tensor]]]:
        """The lobe's layers that end a stage, each with the pooling of its output to ``(B, C)``.

        x-vector: the normalisation closing each TDNN layer, ``(B, T, C)``; ECAPA-TDNN:
        its TDNN and SE-Res2Net blocks, ``(B, C, T)``. Other lobes have none.
        """
        from speechbrain.lobes.models.ECAPA_TDNN import SERes2NetBlock, TDNNBlock
        from speechbrain.nnet.normalization import BatchNorm1d

        blocks = list(getattr(self.lobe, "blocks", []))
        return [(block, lambda output: output.mean(dim=1)) for block in blocks if isinstance(block, BatchNorm1d)] + [
            (block, lambda output: output.mean(dim=2)) for block in blocks if isinstance(block, (TDNNBlock, SERes2NetBlock))
        ]

    def stages(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        """Clip embeddings after each layer of the lobe (see ``_stage_layers``), averaged over time.

        Returns ``[(B, C_1), ..., (B, D)]``; the last entry is :meth:`forward`, the only
        one for lobes without known layers (example: the class docstring).
        """
        outputs = []
        hooks = [
            layer.register_forward_hook(lambda module, inputs, output, pool=pool: outputs.append(pool(output)))
            for layer, pool in self._stage_layers()
        ]  # each appends (B, C_l)
        try:
            embedding = self(waveforms)  # (B, D)
        finally:
            for hook in hooks:
                hook.remove()
        return outputs + [embedding]
