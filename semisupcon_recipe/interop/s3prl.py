"""s3prl upstream for exported SemiSupCon encoders.

Importing this module applies :mod:`semisupcon_recipe.interop.s3prl_compat`, imports
s3prl, and registers the upstream name ``semisupcon_local`` on ``s3prl.hub`` (its
checkpoint is a folder written by ``semisupcon export``), so this works::

    import semisupcon_recipe.interop.s3prl  # registers the upstream
    from s3prl.nn import S3PRLUpstream, Featurizer
    upstream = S3PRLUpstream("semisupcon_local", path_or_url="exported_model/")

No model is shipped with the package, so no checkpoint-free ``semisupcon`` name is
registered.

Contract (s3prl's): a list of 1-D 16 kHz waveforms in; ``{"hidden_states": [h_1, ...,
h_L]}`` out, one ``(B, N_max, D)`` layer per stage of the encoder (each SampleCNN block;
an encoder without stages gives one layer), in train and eval mode alike. The
waveforms are resampled to the encoder's rate inside; frame ``k`` of every layer is
that stage's embedding of the window centred on ``k * get_downsample_rates()`` 16 kHz
samples (see :mod:`semisupcon_recipe.interop.windows`), so a waveform of ``L`` samples
gives ``ceil(L / stride)`` frames in every layer, any ``L >= 1``. s3prl's Featurizer
stacks the layers to learn its weighted sum, so stages narrower than the widest are
zero-padded on the feature axis to width ``D``. The last layer is the encoder's
embedding, and the mean of its frames is the track embedding. In eval mode the output
is deterministic (an encoder that draws random numbers at inference, like SpeechBrain's
x-vector pooling, runs under a fixed seed: the same batch gives the same output; its
noise, of the order of 1e-5, then depends on the batch).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchaudio
from torch import nn

from semisupcon_recipe.interop import s3prl_compat
from semisupcon_recipe.interop.export import S3PRL_SAMPLE_RATE, load_sliding_encoder

s3prl_compat.apply()

import s3prl.hub  # noqa: E402  (must follow the compatibility shims)

UPSTREAM_NAME = "semisupcon_local"


class SemiSupConUpstream(nn.Module):
    """s3prl ``UpstreamExpert`` around an exported encoder.

    Parameters
    ----------
    ckpt : str
        Folder written by ``semisupcon export``.
    max_windows_per_call : int
        Memory bound of :class:`~semisupcon_recipe.interop.windows.SlidingWindowEncoder` (``extra_conf`` of ``S3PRLUpstream``).
    trust_code : bool
        Accept an encoder class outside the allow-list (``extra_conf``; only for folders
        you trust); loading never runs code otherwise.

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.interop.export import export_untrained_encoder
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml", tempfile.mkdtemp())
    >>> upstream = SemiSupConUpstream(str(exported)).eval()
    >>> hidden = upstream([torch.randn(16000), torch.randn(800)])["hidden_states"]
    >>> len(hidden), tuple(hidden[-1].shape), upstream.get_downsample_rates("hidden_states")
    (8, (2, 4, 64), 4000)
    """

    def __init__(self, ckpt: str, max_windows_per_call: int = 64, trust_code: bool = False) -> None:
        super().__init__()
        if ckpt is None:
            raise ValueError(f"{UPSTREAM_NAME} needs path_or_url (ckpt): the folder written by `semisupcon export`")
        self.sliding, metadata = load_sliding_encoder(Path(ckpt), max_windows_per_call=max_windows_per_call, trust_code=trust_code)
        self.sample_rate = int(metadata["sample_rate"])
        stride = metadata["hop"] * S3PRL_SAMPLE_RATE / self.sample_rate
        if stride != int(stride):
            raise ValueError(
                f"{ckpt}: hop {metadata['hop']} at {self.sample_rate} Hz is not a whole number of 16 kHz samples; "
                "re-export with `semisupcon export` (it rounds the hop)"
            )
        self.stride = int(stride)

    def get_downsample_rates(self, key: str) -> int:
        """Frame stride in 16 kHz samples (the same for every key)."""
        return self.stride

    def forward(self, wavs: list[torch.Tensor]) -> dict[str, list[torch.Tensor]]:
        """Frames of a list of ``(L_i,)`` 16 kHz waveforms: ``{"hidden_states": [(B, N_max, D)] * L}``."""
        resampled = [
            torchaudio.functional.resample(wav, S3PRL_SAMPLE_RATE, self.sample_rate) for wav in wavs
        ]  # each (T_i,) at the encoder's rate
        stages, _ = self.sliding.stage_frames(resampled)  # each (B, N_max, D_l)
        width = max(stage.shape[-1] for stage in stages)
        padded = [nn.functional.pad(stage, (0, width - stage.shape[-1])) for stage in stages]  # each (B, N_max, D)
        return {"hidden_states": padded}


def semisupcon_local(ckpt: str | None = None, refresh: bool = False, **kwargs) -> SemiSupConUpstream:
    """s3prl hub entry: an exported SemiSupCon encoder from a local folder (``refresh`` is ignored)."""
    return SemiSupConUpstream(ckpt, **kwargs)


setattr(s3prl.hub, UPSTREAM_NAME, semisupcon_local)

__all__ = ["SemiSupConUpstream", "semisupcon_local", "UPSTREAM_NAME"]
