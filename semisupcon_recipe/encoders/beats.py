"""SpeechBrain's BEATs, randomly initialised from a configuration given as plain numbers."""

from __future__ import annotations

import threading

import torch
from speechbrain.lobes.models import beats

from semisupcon_recipe.encoders.base import FrameEncoder

_CONFIG_LOCK = threading.Lock()


class BEATsEncoder(FrameEncoder):
    """SpeechBrain's ``BEATs`` (16 kHz, 128 kaldi filterbanks in 16 x 16 patches, a
    Transformer) with a ``BEATsConfig`` from the keyword arguments and random weights.

    SpeechBrain's ``BEATs`` reads its configuration only from a checkpoint; this class
    builds it from :class:`speechbrain.lobes.models.beats.BEATsConfig` instead (no file
    is read). Frames are the Transformer outputs ``(B, P, D)``, one per patch (8 patches
    per 16 feature frames).

    Parameters
    ----------
    sample_rate : int
        Must be 16000: BEATs computes its filterbanks at 16 kHz (set the recipe's
        ``sample_rate`` to 16000 so views are read at that rate).
    embedding_dim : int
        Transformer width ``D`` (``encoder_embed_dim``).
    patch_dim : int
        Patch embedding width (``embed_dim``).
    num_layers, nhead, d_ffn : int
        Transformer layers, heads and feed-forward width.
    conv_pos, conv_pos_groups : int
        Convolutional positional embedding width and groups.
    dropout : float
        Transformer dropout (also on attention weights).

    Example
    -------
    >>> encoder = BEATsEncoder(embedding_dim=16, patch_dim=16, num_layers=1, nhead=2, d_ffn=32,
    ...                        conv_pos=16, conv_pos_groups=4)
    >>> encoder.frames(torch.randn(2, 3200)).shape   # 18 frames -> 1 x 8 patches
    torch.Size([2, 8, 16])
    >>> encoder(torch.randn(2, 3200)).shape
    torch.Size([2, 16])
    >>> BEATsEncoder(sample_rate=22050)
    Traceback (most recent call last):
    ...
    ValueError: BEATs computes its filterbanks at 16 kHz, got sample_rate 22050; set sample_rate: 16000 in the yaml
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        embedding_dim: int = 768,
        patch_dim: int = 512,
        num_layers: int = 12,
        nhead: int = 12,
        d_ffn: int = 3072,
        conv_pos: int = 128,
        conv_pos_groups: int = 16,
        dropout: float = 0.1,
    ) -> None:
        if int(sample_rate) != 16000:
            raise ValueError(
                f"BEATs computes its filterbanks at 16 kHz, got sample_rate {sample_rate}; set sample_rate: 16000 in the yaml"
            )
        super().__init__(sample_rate, embedding_dim)
        config = beats.BEATsConfig(
            {
                "encoder_embed_dim": int(embedding_dim),
                "embed_dim": int(patch_dim),
                "encoder_layers": int(num_layers),
                "encoder_attention_heads": int(nhead),
                "encoder_ffn_embed_dim": int(d_ffn),
                "conv_pos": int(conv_pos),
                "conv_pos_groups": int(conv_pos_groups),
                "dropout": float(dropout),
                "attention_dropout": float(dropout),
            }
        )
        self.model = _beats_from_config(config)

    def frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Patch embeddings ``(B, P, D)`` of waveforms ``(B, T)`` at 16 kHz."""
        lengths = torch.ones(waveforms.shape[0], device=waveforms.device)  # (B,)
        return self.model.extract_features(waveforms, lengths)[0]  # (B, P, D)


def _beats_from_config(config: "beats.BEATsConfig") -> "beats.BEATs":
    """``beats.BEATs`` built with ``config``: its constructor takes the configuration only
    from a checkpoint file, so the module's ``BEATsConfig`` answers ``config`` while it runs."""
    with _CONFIG_LOCK:
        original = beats.BEATsConfig
        beats.BEATsConfig = lambda _checkpoint_config=None: config
        try:
            return beats.BEATs(ckp_path=None, freeze=False)
        finally:
            beats.BEATsConfig = original
