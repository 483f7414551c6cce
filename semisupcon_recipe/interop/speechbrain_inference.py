"""SpeechBrain inference interface for exported SemiSupCon encoders.

``SemiSupConEncoder.from_hparams(source=EXPORTED_DIR)`` loads a folder written by
``semisupcon export`` with SpeechBrain's own machinery (``hyperparams.yaml`` +
``Pretrainer``), offline: a local ``source`` is read in place (or symlinked into
``savedir`` when one is given) and the weights' sha256 is checked before loading.
Embeddings follow :mod:`semisupcon_recipe.interop.windows` (mean of the centred
sliding-window frames), so they equal the s3prl, HEAR and ``semisupcon embed`` ones.
"""

from __future__ import annotations

from pathlib import Path

import torch
from speechbrain.inference.interfaces import Pretrained

from semisupcon_recipe.audio import read_audio
from semisupcon_recipe.interop.windows import SlidingWindowEncoder


class SemiSupConEncoder(Pretrained):
    """Track embeddings from waveforms or files with an exported SemiSupCon encoder.

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.interop.export import export_untrained_encoder
    >>> run = Path(tempfile.mkdtemp())
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml",
    ...                                     {"labeled_manifest": "l.csv", "unlabeled_manifest": "u.csv"}, run)
    >>> model = SemiSupConEncoder.from_hparams(source=str(exported), savedir=str(run / "sb"))
    >>> model.encode_batch(torch.randn(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 64])
    """

    MODULES_NEEDED = ["encoder"]
    HPARAMS_NEEDED = ["sample_rate", "window", "hop", "embedding_dim"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sliding = SlidingWindowEncoder(self.mods.encoder, self.hparams.window, self.hparams.hop)
        self.sample_rate = int(self.hparams.sample_rate)
        self.embedding_dim = int(self.hparams.embedding_dim)

    @classmethod
    def from_hparams(cls, source, hparams_file: str = "hyperparams.yaml", overrides: dict | None = None, **kwargs):
        """Load an export folder (or a hub copy of one); ``source`` also locates the weights.

        Parameters
        ----------
        source : str or Path
            The export folder (``semisupcon export`` output).
        hparams_file : str
            Name of the inference yaml in ``source``.
        overrides : dict, optional
            hyperpyyaml overrides; ``export_folder`` defaults to ``source``.
        **kwargs
            Passed to SpeechBrain's ``pretrained_from_hparams`` (``savedir``,
            ``run_opts``, ``local_strategy``...).
        """
        overrides = {"export_folder": str(source), **(overrides or {})}
        return super().from_hparams(source=str(source), hparams_file=hparams_file, overrides=overrides, **kwargs)

    def encode_batch(self, wavs: torch.Tensor, wav_lens: torch.Tensor | None = None) -> torch.Tensor:
        """Track embeddings of a batch of waveforms.

        Parameters
        ----------
        wavs : torch.Tensor
            ``(B, T)`` (or ``(T,)``) waveforms at ``sample_rate``, zero-padded on the right.
        wav_lens : torch.Tensor, optional
            ``(B,)`` lengths relative to ``T`` (SpeechBrain convention); all full if omitted.

        Returns
        -------
        torch.Tensor
            ``(B, D)``.
        """
        wavs = wavs.float().to(self.device)
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)  # (1, T)
        lengths = None
        if wav_lens is not None:
            lengths = torch.round(wav_lens.float() * wavs.shape[1]).long().clamp(min=1)  # (B,)
        return self.sliding.track(wavs, lengths)  # (B, D)

    def encode_file(self, path: str | Path) -> torch.Tensor:
        """Track embedding ``(1, D)`` of an audio file (read mono and resampled like ``semisupcon embed``)."""
        waveform = read_audio(path, self.sample_rate).to(self.device)  # (T,)
        return self.encode_batch(waveform.unsqueeze(0))  # (1, D)

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor | None = None) -> torch.Tensor:
        """Same as :meth:`encode_batch`."""
        return self.encode_batch(wavs, wav_lens)
