"""SpeechBrain's Cnn14 (PANNs) on log-mel filterbanks."""

from __future__ import annotations

from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.Cnn14 import Cnn14

from semisupcon_recipe.encoders.lobe import SpeechBrainLobeEncoder


class Cnn14Encoder(SpeechBrainLobeEncoder):
    """Fbank (``n_mels`` bands) -> SpeechBrain's ``Cnn14`` -> one ``(B, D)`` embedding per clip.

    Cnn14's channel counts are fixed (64 ... 1024, then ``embedding_dim``); its five 2x2
    average poolings need at least 32 feature frames (0.32 s at a 10 ms hop) and
    ``n_mels >= 32``.

    Parameters
    ----------
    sample_rate : int
        Input rate in Hz.
    n_mels : int
        Filterbank bands.
    embedding_dim : int
        Output channels of the last block, ``D``.
    norm_type : str
        ``"bn"``, ``"in"`` or ``"ln"`` (SpeechBrain's choices).

    Example
    -------
    >>> import torch
    >>> encoder = Cnn14Encoder(n_mels=32, embedding_dim=16).eval()
    >>> encoder(torch.randn(2, 6000)).shape
    torch.Size([2, 16])
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 64, embedding_dim: int = 2048, norm_type: str = "bn") -> None:
        super().__init__(
            features=Fbank(sample_rate=sample_rate, n_mels=n_mels),
            lobe=Cnn14(mel_bins=n_mels, emb_dim=embedding_dim, norm_type=norm_type),
            sample_rate=sample_rate,
            embedding_dim=embedding_dim,
        )
