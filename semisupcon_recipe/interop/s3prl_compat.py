"""Import-time compatibility of s3prl 0.4.18 with torchaudio >= 2.9.

torchaudio 2.9 removed ``torchaudio.set_audio_backend`` and ``torchaudio.sox_effects``;
s3prl 0.4.18 calls the first and imports the second when ``s3prl.hub`` is imported.
:func:`apply` adds two small stand-ins to the *imported* torchaudio module (no installed
file is touched) and must run before s3prl is first imported;
:mod:`semisupcon_recipe.interop.s3prl` does that for you.

The ``sox_effects`` stand-in implements the effects s3prl's own task recipes use
(``channels``, ``rate``, ``gain``) with torch/torchaudio operations and refuses any
other effect with an error that names it.
"""

from __future__ import annotations

import sys
import types
from typing import Sequence

import torch
import torchaudio

SUPPORTED_EFFECTS = ("channels", "rate", "gain")


def set_audio_backend(backend: str | None) -> None:
    """Accept and ignore an audio-backend choice (torchaudio >= 2.9 has no backends).

    s3prl's loaders read audio with librosa, so the choice never mattered to them.

    Example
    -------
    >>> set_audio_backend("sox_io") is None
    True
    """
    return None


def apply_effects_tensor(
    tensor: torch.Tensor,
    sample_rate: int,
    effects: Sequence[Sequence[str]],
    channels_first: bool = True,
) -> tuple[torch.Tensor, int]:
    """Apply a chain of sox-style effects to a waveform tensor.

    Parameters
    ----------
    tensor : torch.Tensor
        Waveform, ``(C, T)`` if ``channels_first`` else ``(T, C)``.
    sample_rate : int
        Rate of ``tensor`` in Hz.
    effects : sequence of sequence of str
        sox effect lines such as ``[["channels", "1"], ["rate", "16000"]]``.
    channels_first : bool
        Layout of ``tensor`` and of the result.

    Returns
    -------
    (torch.Tensor, int)
        The processed waveform and its sample rate.

    Example
    -------
    >>> wav = torch.ones(2, 32000)
    >>> out, sr = apply_effects_tensor(wav, 32000, [["channels", "1"], ["rate", "16000"], ["gain", "-6.0"]])
    >>> tuple(out.shape), sr
    ((1, 16000), 16000)
    """
    wav = tensor if channels_first else tensor.transpose(0, 1)  # (C, T)
    for effect in effects:
        name, *arguments = effect
        if name == "channels":
            if int(arguments[0]) != 1:
                raise NotImplementedError("sox_effects stand-in: only 'channels 1' (down-mix) is supported")
            wav = wav.mean(dim=0, keepdim=True)  # (1, T)
        elif name == "rate":
            new_rate = int(float(arguments[0]))
            wav = torchaudio.functional.resample(wav, sample_rate, new_rate)
            sample_rate = new_rate
        elif name == "gain":
            wav = wav * 10.0 ** (float(arguments[-1]) / 20.0)
        else:
            raise NotImplementedError(
                f"sox_effects stand-in: effect {name!r} is not available with torchaudio "
                f"{torchaudio.__version__}; supported: {', '.join(SUPPORTED_EFFECTS)}"
            )
    return (wav if channels_first else wav.transpose(0, 1)), sample_rate


def apply() -> None:
    """Install the stand-ins on the imported ``torchaudio`` module; idempotent.

    Example
    -------
    >>> apply()
    >>> import torchaudio.sox_effects
    >>> callable(torchaudio.sox_effects.apply_effects_tensor)
    True
    """
    if not hasattr(torchaudio, "set_audio_backend"):
        torchaudio.set_audio_backend = set_audio_backend
    if "torchaudio.sox_effects" not in sys.modules and not hasattr(torchaudio, "sox_effects"):
        module = types.ModuleType("torchaudio.sox_effects", "sox_effects stand-in (semisupcon_recipe)")
        module.apply_effects_tensor = apply_effects_tensor
        sys.modules["torchaudio.sox_effects"] = module
        torchaudio.sox_effects = module
