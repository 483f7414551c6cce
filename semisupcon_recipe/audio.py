"""Audio reading: soundfile in, mono float32 at the encoder's rate out.

Everything that reads audio goes through :func:`read_audio` so corrupt, empty,
multichannel and odd-rate files behave the same everywhere: multichannel is averaged
to mono, any rate is resampled, and a file that cannot be decoded raises
:class:`AudioError` naming the file and what to do.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio


class AudioError(RuntimeError):
    """An audio file cannot be used; the message names the file and the fix."""


def audio_info(path: str | Path) -> tuple[int, int]:
    """Return ``(num_frames, sample_rate)`` of a file without decoding it.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> soundfile.write(path, np.zeros(8000, dtype="float32"), 16000)
    >>> audio_info(path)
    (8000, 16000)
    """
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
        raise AudioError(f"cannot read {path}: {error}; check the file exists and is valid audio") from error
    return int(info.frames), int(info.samplerate)


def audio_duration(path: str | Path) -> float:
    """Duration of a file in seconds (from its header).

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> soundfile.write(path, np.zeros(8000, dtype="float32"), 16000)
    >>> audio_duration(path)
    0.5
    """
    frames, rate = audio_info(path)
    return frames / rate


@lru_cache(maxsize=16)
def _resampler(source_rate: int, target_rate: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(source_rate, target_rate)


def resample(waveform: torch.Tensor, source_rate: int, target_rate: int) -> torch.Tensor:
    """Resample ``(..., T)`` from ``source_rate`` to ``target_rate`` (cached kernels).

    Example
    -------
    >>> resample(torch.zeros(44100), 44100, 22050).shape
    torch.Size([22050])
    """
    if source_rate == target_rate:
        return waveform
    return _resampler(int(source_rate), int(target_rate))(waveform)


def read_audio(
    path: str | Path,
    sample_rate: int,
    offset: float = 0.0,
    duration: float | None = None,
) -> torch.Tensor:
    """Read a file (or a segment of it) as mono float32 at ``sample_rate``.

    Parameters
    ----------
    path : str or Path
        Any format soundfile reads (wav, flac, ogg, mp3).
    sample_rate : int
        Target rate in Hz; the file is resampled if it differs.
    offset, duration : float
        Segment start and length in seconds (``duration=None`` reads to the end).

    Returns
    -------
    torch.Tensor
        ``(T,)`` float32 waveform.

    Raises
    ------
    AudioError
        The file is missing, cannot be decoded, or holds no samples.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo.wav")
    >>> soundfile.write(path, np.ones((44100, 2), dtype="float32") * 0.5, 44100)
    >>> wav = read_audio(path, 22050)
    >>> wav.shape, round(float(wav[5000]), 3)
    (torch.Size([22050]), 0.5)
    """
    frames, source_rate = audio_info(path)
    start = int(round(offset * source_rate))
    stop = frames if duration is None else min(frames, start + int(round(duration * source_rate)))
    try:
        data, source_rate = soundfile.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
        raise AudioError(f"cannot decode {path}: {error}; re-encode it (e.g. to 16-bit wav) or drop it from the manifest") from error
    if data.shape[0] == 0:
        raise AudioError(f"{path} holds no audio samples in the requested segment; drop it from the manifest")
    waveform = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))  # (T,)
    if not torch.isfinite(waveform).all():
        raise AudioError(f"{path} contains NaN or infinite samples; re-encode or drop it")
    return resample(waveform, source_rate, sample_rate)
