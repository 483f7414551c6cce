"""Encoders: waveform batches ``(B, T)`` at ``encoder.sample_rate`` to embeddings ``(B, D)``.

Every encoder has the integer attributes ``sample_rate`` and ``embedding_dim`` and a
``frames(waveforms) -> (B, T', D)`` method for time-distributed outputs
(:class:`FrameEncoder` is their base: the clip embedding is the mean of the frames). Adapters of
SpeechBrain models (:class:`ConformerEncoder`, :class:`Wav2Vec2Encoder`,
:class:`BEATsEncoder`, :class:`Cnn14Encoder`) take plain numbers only. An encoder may
also have ``stages(waveforms) -> [(B, D_1), ..., (B, D)]``: the clip embedding of each
stage (layer or block) of the network, the last being the embedding itself;
:func:`stage_embeddings` gives the one stage of an encoder without it.
"""

import torch
from torch import nn

from semisupcon_recipe.encoders.base import FrameEncoder
from semisupcon_recipe.encoders.beats import BEATsEncoder
from semisupcon_recipe.encoders.cnn14 import Cnn14Encoder
from semisupcon_recipe.encoders.conformer import ConformerEncoder
from semisupcon_recipe.encoders.lobe import SpeechBrainLobeEncoder
from semisupcon_recipe.encoders.projection import ProjectionHead
from semisupcon_recipe.encoders.samplecnn import SampleCNN
from semisupcon_recipe.encoders.wav2vec2 import Wav2Vec2Encoder


def stage_embeddings(encoder: nn.Module, waveforms: torch.Tensor) -> list[torch.Tensor]:
    """Per-stage clip embeddings ``[(B, D_1), ..., (B, D)]``; ``[encoder(waveforms)]`` without stages.

    Example
    -------
    >>> encoder = SampleCNN(sample_rate=16000, channels=(4, 8), kernel=3)
    >>> [tuple(stage.shape) for stage in stage_embeddings(encoder, torch.randn(2, 9))]
    [(2, 4), (2, 8), (2, 8)]
    >>> projection = ProjectionHead(input_dim=8, hidden_dim=8, output_dim=4)
    >>> [tuple(stage.shape) for stage in stage_embeddings(projection, torch.randn(2, 8))]
    [(2, 4)]
    """
    stages = getattr(encoder, "stages", None)
    return stages(waveforms) if callable(stages) else [encoder(waveforms)]


__all__ = [
    "FrameEncoder",
    "SampleCNN",
    "ProjectionHead",
    "SpeechBrainLobeEncoder",
    "ConformerEncoder",
    "Wav2Vec2Encoder",
    "BEATsEncoder",
    "Cnn14Encoder",
    "stage_embeddings",
]
