"""Encoders: waveform batches ``(B, T)`` at ``encoder.sample_rate`` to embeddings ``(B, D)``.

Every encoder has the integer attributes ``sample_rate`` and ``embedding_dim`` and a
``frames(waveforms) -> (B, T', D)`` method for time-distributed outputs. Adapters of
SpeechBrain models (:class:`ConformerEncoder`, :class:`Wav2Vec2Encoder`,
:class:`BEATsEncoder`, :class:`Cnn14Encoder`) take plain numbers only.
"""

from semisupcon_recipe.encoders.beats import BEATsEncoder
from semisupcon_recipe.encoders.cnn14 import Cnn14Encoder
from semisupcon_recipe.encoders.conformer import ConformerEncoder
from semisupcon_recipe.encoders.lobe import SpeechBrainLobeEncoder
from semisupcon_recipe.encoders.projection import ProjectionHead
from semisupcon_recipe.encoders.samplecnn import SampleCNN
from semisupcon_recipe.encoders.wav2vec2 import Wav2Vec2Encoder

__all__ = [
    "SampleCNN",
    "ProjectionHead",
    "SpeechBrainLobeEncoder",
    "ConformerEncoder",
    "Wav2Vec2Encoder",
    "BEATsEncoder",
    "Cnn14Encoder",
]
