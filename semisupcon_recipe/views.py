"""Contrastive views: N adjacent crops of one random segment of a file.

The positives of a clip are neighbouring excerpts, not the same excerpt twice: one
random segment of ``num_views * clip_len`` samples is read and cut into ``num_views``
adjacent, non-overlapping crops. A file too short for that, but at least one crop
long, gives ``num_views`` independent random crops instead. A shorter file raises
:class:`TooShortError` (a pretraining run skips and counts such items).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from semisupcon_recipe.audio import AudioError, audio_info, read_audio
from semisupcon_recipe.audio_cache import as_float, is_cached, open_cached


class TooShortError(AudioError):
    """A file is shorter than one crop."""


def view_starts(num_samples: int, clip_len: int, num_views: int, rng: np.random.Generator) -> np.ndarray:
    """Start offsets of the views, in samples.

    Parameters
    ----------
    num_samples : int
        Length of the file at the encoder's rate.
    clip_len : int
        Length of one view.
    num_views : int
        Number of views ``N``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` start offsets: adjacent (``start + k * clip_len``) when the file holds
        ``N * clip_len`` samples, otherwise independent random offsets.

    Example
    -------
    >>> starts = view_starts(100_000, 10_000, 3, np.random.default_rng(0))
    >>> bool((np.diff(starts) == 10_000).all()), bool(starts[-1] + 10_000 <= 100_000)
    (True, True)
    >>> bool(view_starts(15_000, 10_000, 2, np.random.default_rng(0)).max() <= 5_000)
    True
    """
    if num_samples < clip_len:
        raise TooShortError(f"{num_samples} samples is shorter than one view of {clip_len}")
    segment = num_views * clip_len
    if num_samples >= segment:
        start = int(rng.integers(0, num_samples - segment + 1))
        return start + clip_len * np.arange(num_views)
    return rng.integers(0, num_samples - clip_len + 1, size=num_views)


class ViewReader:
    """Reads ``num_views`` crops of ``clip_len`` samples from a file at ``sample_rate``.

    Only the needed segment is decoded, unless ``cache_audio`` keeps every decoded
    (resampled, mono) file in memory, which pays off when files are short and read
    every epoch (the demo). Each process (data-loader worker) has its own cache.

    Parameters
    ----------
    sample_rate : int
        The encoder's rate.
    clip_len : int
        Samples per view.
    num_views : int
        Views per clip (>= 2).
    cache_audio : bool
        Keep decoded files in memory.

    Example
    -------
    >>> import tempfile, os, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> soundfile.write(path, np.random.default_rng(0).normal(size=44100).astype("float32"), 44100)
    >>> reader = ViewReader(sample_rate=16000, clip_len=4000, num_views=2)
    >>> reader.read(path, np.random.default_rng(1)).shape
    torch.Size([2, 4000])
    """

    def __init__(self, sample_rate: int, clip_len: int, num_views: int = 2, cache_audio: bool = False) -> None:
        if num_views < 2:
            raise ValueError(f"num_views must be >= 2 for contrastive learning, got {num_views}")
        self.sample_rate = int(sample_rate)
        self.clip_len = int(clip_len)
        self.num_views = int(num_views)
        self.cache_audio = cache_audio
        self._cache: dict[str, torch.Tensor] = {}

    @property
    def min_duration(self) -> float:
        """Shortest usable file, in seconds (one view)."""
        return self.clip_len / self.sample_rate

    def read(self, path: str | Path, rng: np.random.Generator) -> torch.Tensor:
        """Return the views ``(N, clip_len)`` of one file; raises AudioError/TooShortError."""
        path = str(path)
        if is_cached(path):  # a file of `semisupcon cache`: already at this rate, memory-mapped
            samples = open_cached(path, self.sample_rate)  # (T,)
            starts = self._starts(len(samples), path, rng)
            return torch.from_numpy(np.stack([as_float(samples[s : s + self.clip_len]) for s in starts]))
        if self.cache_audio or path in self._cache:
            waveform = self._cache.get(path)
            if waveform is None:
                waveform = read_audio(path, self.sample_rate)
                self._cache[path] = waveform
            return self._crop(waveform, path, rng)
        frames, source_rate = audio_info(path)
        num_samples = int(frames * self.sample_rate // source_rate)
        try:
            starts = view_starts(num_samples, self.clip_len, self.num_views, rng)
        except TooShortError as error:
            raise TooShortError(f"{path}: {error}") from None
        first, last = int(starts.min()), int(starts.max()) + self.clip_len
        # Decode [first, last) plus a margin against resampling rounding, then crop exactly.
        margin = math.ceil(source_rate / self.sample_rate) + 1
        segment = read_audio(
            path,
            self.sample_rate,
            offset=first / self.sample_rate,
            duration=(last - first) / self.sample_rate + margin / source_rate,
        )  # (~last - first,)
        segment = torch.nn.functional.pad(segment, (0, max(0, last - first - segment.shape[0])))
        return torch.stack([segment[s - first : s - first + self.clip_len] for s in starts.tolist()])

    def _starts(self, num_samples: int, path: str, rng: np.random.Generator) -> list[int]:
        try:
            return view_starts(num_samples, self.clip_len, self.num_views, rng).tolist()
        except TooShortError as error:
            raise TooShortError(f"{path}: {error}") from None

    def _crop(self, waveform: torch.Tensor, path: str, rng: np.random.Generator) -> torch.Tensor:
        starts = self._starts(waveform.shape[0], path, rng)
        return torch.stack([waveform[s : s + self.clip_len] for s in starts])  # (N, clip_len)
