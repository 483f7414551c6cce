"""SpeechBrain's wav2vec 2.0 encoder (convolutional latent extractor + Transformer)."""

from __future__ import annotations

from typing import Sequence

import torch
from speechbrain.lobes.models.transformer.Transformer import TransformerEncoder
from speechbrain.lobes.models.wav2vec import EncoderWrapper, W2VLatentExtractor
from torch import nn

from semisupcon_recipe.encoders.base import FrameEncoder


class Wav2Vec2Encoder(FrameEncoder):
    """The encoder of SpeechBrain's wav2vec 2.0 pretraining recipe, built from plain numbers.

    ``latent_extractor`` (``W2VLatentExtractor`` on layer-normalised waveforms) gives
    latents ``(B, T', C)``; ``latent_encoder`` (``EncoderWrapper``: projection to
    ``embedding_dim``, sinusoidal positions, a pre-norm ``TransformerEncoder``) gives the
    contextual frames ``(B, T', D)``. Both attributes carry the names of the recoverables
    of SpeechBrain's recipe (``latent_extractor.ckpt``, ``latent_encoder.ckpt``).

    Parameters
    ----------
    sample_rate : int
        Input rate in Hz.
    latent_channels, latent_kernels, latent_strides : sequence of int
        The convolution blocks of the latent extractor (``C`` is the last channel count).
    embedding_dim, num_layers, nhead, d_ffn : int
        Transformer width ``D``, layers, heads and feed-forward width.
    dropout, dropout_encoder_input, layerdrop : float
        Transformer dropout, dropout on its input, and layer drop probability.

    Example
    -------
    >>> encoder = Wav2Vec2Encoder(latent_channels=(16, 16), latent_kernels=(10, 3), latent_strides=(5, 2),
    ...                           embedding_dim=16, num_layers=1, nhead=2, d_ffn=32)
    >>> encoder.frames(torch.randn(2, 1000)).shape
    torch.Size([2, 99, 16])
    >>> encoder(torch.randn(2, 1000)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        latent_channels: Sequence[int] = (512, 512, 512, 512, 512, 512, 512),
        latent_kernels: Sequence[int] = (11, 3, 3, 3, 3, 3, 3),
        latent_strides: Sequence[int] = (5, 2, 2, 2, 2, 3, 3),
        embedding_dim: int = 768,
        num_layers: int = 12,
        nhead: int = 8,
        d_ffn: int = 3072,
        dropout: float = 0.1,
        dropout_encoder_input: float = 0.1,
        layerdrop: float = 0.05,
    ) -> None:
        super().__init__(sample_rate, embedding_dim)
        self.latent_extractor = W2VLatentExtractor(
            out_channels=[int(c) for c in latent_channels],
            kernel_sizes=[int(k) for k in latent_kernels],
            strides=[int(s) for s in latent_strides],
        )
        transformer = TransformerEncoder(
            num_layers=num_layers,
            nhead=nhead,
            d_ffn=d_ffn,
            d_model=embedding_dim,
            dropout=dropout,
            layerdrop_prob=layerdrop,
            normalize_before=True,
            activation=nn.GELU,
        )
        self.latent_encoder = EncoderWrapper(
            in_dim=self.latent_extractor.out_dim,
            embedding_dim=embedding_dim,
            latent_encoder=transformer,
            dropout_encoder_input=dropout_encoder_input,
        )

    def latents(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, T', C)`` of waveforms ``(B, T)`` (each waveform layer-normalised first)."""
        return self.latent_extractor(waveforms, normalize_signal=True)

    def contextual(self, latents: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
        """The Transformer on latents ``(B, T', C)``, frames of ``mask`` ``(B, T')`` replaced
        by the learned mask embedding; SpeechBrain's ``EncoderWrapper`` result dict
        (``embeddings`` ``(B, T', D)``, ``num_masked``...)."""
        lengths = torch.ones(latents.shape[0], device=latents.device)  # (B,): clips are never padded
        return self.latent_encoder(latents, wav_lens=lengths, mask=mask)

    def frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Contextual frames ``(B, T', D)``."""
        return self.contextual(self.latents(waveforms))["embeddings"]
