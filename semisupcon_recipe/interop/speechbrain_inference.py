"""SpeechBrain inference interface for exported SemiSupCon encoders.

``SemiSupConEncoder.from_hparams(source=EXPORTED_DIR)`` loads a folder written by
``semisupcon export``, offline: SpeechBrain's ``fetch`` reads a local ``source`` in place
(or links it into ``savedir`` when one is given), then
:func:`semisupcon_recipe.exported.load_exported` checks the sha256 of the
description and the weights and builds the encoder from the plain-data
``hyperparams.yaml``. Unlike ``Pretrained.from_hparams`` it never hands the file to
hyperpyyaml, so a folder someone else wrote cannot run code (``trust_code=True`` is the
opt-in for an encoder class outside the allow-list).
Embeddings follow :mod:`semisupcon_recipe.interop.windows` (mean of the centred
sliding-window frames), so they equal the s3prl, HEAR and ``semisupcon embed`` ones.
"""

from __future__ import annotations

from pathlib import Path

import torch
from speechbrain.inference.interfaces import Pretrained

from semisupcon_recipe.audio import read_audio
from semisupcon_recipe.exported import HPARAMS_FILE
from semisupcon_recipe.interop.windows import SlidingWindowEncoder


class SemiSupConEncoder(Pretrained):
    """Track embeddings from waveforms or files with an exported SemiSupCon encoder.

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.interop.export import export_untrained_encoder
    >>> run = Path(tempfile.mkdtemp())
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml", run)
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
    def from_hparams(
        cls,
        source: str | Path,
        hparams_file: str = HPARAMS_FILE,
        savedir: str | Path | None = None,
        run_opts: dict | None = None,
        trust_code: bool = False,
        **fetch_kwargs,
    ) -> "SemiSupConEncoder":
        """Load an export folder (or a copy of one fetched into ``savedir``), safely.

        Parameters
        ----------
        source : str or Path
            The export folder (``semisupcon export`` output).
        hparams_file : str
            Name of the plain-data description in ``source``.
        savedir : str or Path, optional
            Where SpeechBrain's ``fetch`` places the files (linked or copied per ``local_strategy``).
        run_opts : dict, optional
            SpeechBrain run options (``device``...).
        trust_code : bool
            Accept an encoder class outside the allow-list (only for folders you trust).
        **fetch_kwargs
            Passed to ``speechbrain.utils.fetching.fetch`` (``local_strategy``...).
        """
        from speechbrain.utils.fetching import fetch

        from semisupcon_recipe.exported import MANIFEST_FILE, WEIGHTS_FILE, load_exported

        if hparams_file != HPARAMS_FILE:
            raise ValueError(f"an export folder's description is {HPARAMS_FILE}, not {hparams_file}")
        if savedir is None:
            folder = Path(source)
        else:
            fetched = {Path(fetch(name, source=str(source), savedir=str(savedir), **fetch_kwargs)).parent
                       for name in (MANIFEST_FILE, HPARAMS_FILE, WEIGHTS_FILE)}
            if len(fetched) != 1:
                raise ValueError(f"the files of {source} were fetched into several folders ({sorted(map(str, fetched))})")
            folder = fetched.pop()
        encoder, record = load_exported(folder, trust_code=trust_code)
        hparams = {key: record[key] for key in cls.HPARAMS_NEEDED}
        return cls(modules={"encoder": encoder}, hparams=hparams, run_opts=run_opts)

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
