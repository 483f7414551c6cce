"""Encoders: waveform batches ``(B, T)`` at ``encoder.sample_rate`` to embeddings ``(B, D)``.

Every encoder has the integer attributes ``sample_rate`` and ``embedding_dim`` and a
``frames(waveforms) -> (B, T', D)`` method for time-distributed outputs.
"""

from semisupcon_recipe.encoders.lobe import SpeechBrainLobeEncoder
from semisupcon_recipe.encoders.projection import ProjectionHead
from semisupcon_recipe.encoders.samplecnn import SampleCNN

__all__ = ["SampleCNN", "ProjectionHead", "SpeechBrainLobeEncoder"]
