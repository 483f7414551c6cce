"""SpeechBrain's BEST-RQ encoder (log-mel filterbanks, a convolution front end, a Conformer)."""

from __future__ import annotations

from typing import Sequence

from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
from speechbrain.lobes.models.transformer.TransformerASR import EncoderWrapper, TransformerASR
from speechbrain.processing.features import InputNormalization
from torch import nn

from semisupcon_recipe.encoders.lobe import SpeechBrainLobeEncoder


class ConformerEncoder(SpeechBrainLobeEncoder):
    """The encoder of SpeechBrain's BEST-RQ recipe, built from plain numbers.

    Fbank (``n_mels`` bands, 10 ms hop) -> per-clip mean/variance normalisation ->
    ``ConvolutionFrontEnd`` (two stride-2 blocks: ``frame_stack = 4`` feature frames per
    output frame) -> ``TransformerASR`` encoder with Conformer layers (RelPosMHAXL).
    ``lobe`` is ``Sequential(front end, EncoderWrapper)``: its weights have the keys of
    the ``model`` recoverable of SpeechBrain's BEST-RQ recipe (``model.ckpt``), so a
    BEST-RQ run folder initialises it (see :func:`semisupcon_recipe.ssl_mixing.initialise_from_ssl_run`).

    Parameters
    ----------
    sample_rate : int
        Input rate in Hz.
    n_mels, n_fft : int
        Filterbank bands and FFT size.
    front_end_channels : sequence of int
        Output channels of the two convolution blocks.
    d_model, nhead, num_layers, d_ffn : int
        Conformer width, attention heads, layers and feed-forward width; ``D = d_model``.
    dropout : float
        Conformer dropout.

    Example
    -------
    >>> import torch
    >>> encoder = ConformerEncoder(n_mels=16, front_end_channels=(8, 4), d_model=16, nhead=2, num_layers=1, d_ffn=32)
    >>> encoder.frames(torch.randn(2, 3200)).shape   # 21 feature frames -> 6 output frames
    torch.Size([2, 6, 16])
    >>> encoder(torch.randn(2, 3200)).shape
    torch.Size([2, 16])
    >>> len(ConformerEncoder(n_mels=16, front_end_channels=(8, 4), d_model=16, nhead=2, num_layers=3, d_ffn=32)
    ...     .stages(torch.randn(2, 3200)))
    3
    """

    frame_stack = 4  # feature frames per output frame (two stride-2 convolution blocks)

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 80,
        n_fft: int = 400,
        front_end_channels: Sequence[int] = (128, 32),
        d_model: int = 576,
        nhead: int = 8,
        num_layers: int = 12,
        d_ffn: int = 2048,
        dropout: float = 0.1,
    ) -> None:
        channels = tuple(int(channel) for channel in front_end_channels)
        if len(channels) != 2:
            raise ValueError(f"front_end_channels must name the two convolution blocks, got {front_end_channels}")
        front_end = ConvolutionFrontEnd(
            input_shape=(8, 10, n_mels),
            num_blocks=2,
            num_layers_per_block=1,
            out_channels=channels,
            kernel_sizes=(3, 3),
            strides=(2, 2),
            residuals=(False, False),
        )
        conformer = TransformerASR(
            input_size=channels[-1] * ((n_mels + 3) // 4),  # channels x frequency bands after two stride-2 blocks
            tgt_vocab=1,  # unused: encoder only
            d_model=d_model,
            nhead=nhead,
            num_encoder_layers=num_layers,
            num_decoder_layers=0,
            d_ffn=d_ffn,
            dropout=dropout,
            activation=nn.GELU,
            conformer_activation=nn.GELU,
            encoder_module="conformer",
            attention_type="RelPosMHAXL",
            normalize_before=True,
            causal=False,
        )
        super().__init__(
            features=Fbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels),
            lobe=nn.Sequential(front_end, EncoderWrapper(conformer)),
            sample_rate=sample_rate,
            embedding_dim=d_model,
            normalize=InputNormalization(norm_type="sentence"),
        )
        self.n_mels = int(n_mels)

    def _stage_layers(self) -> list:
        """Every Conformer layer but the last, whose output ``((B, T, D), attention)`` is
        averaged over time; the last stage is the embedding (after the final normalisation)."""
        layers = self.lobe[1].transformer.encoder.layers
        return [(layer, lambda output: output[0].mean(dim=1)) for layer in layers[:-1]]
