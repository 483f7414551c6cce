"""The waveform chunks of one track for feature extraction: read, corrupted, cut.

A track read at the encoder's rate (and corrupted by a :class:`CorruptionSpec`, for
robustness runs) is cut into consecutive, non-overlapping chunks of ``chunk_len``
samples from its start; the tail shorter than a chunk is dropped. A track longer than
``max_chunks`` chunks keeps ``max_chunks`` of them, evenly spaced over the whole track
(so the features cover the track, not only its beginning). A track shorter than one
chunk is zero-padded to one chunk. :class:`TrackChunks` does all three for the rows of a
manifest, for the feature cache of :mod:`semisupcon_recipe.features`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from semisupcon_recipe.audio import AudioError, read_audio


def chunk_waveform(waveform: torch.Tensor, chunk_len: int, max_chunks: int) -> tuple[torch.Tensor, bool]:
    """Cut a track into fixed-length chunks (see the module docstring for the rule).

    Parameters
    ----------
    waveform : torch.Tensor
        ``(T,)`` mono samples.
    chunk_len : int
        Samples per chunk.
    max_chunks : int
        Most chunks kept per track, evenly spaced when the track has more.

    Returns
    -------
    chunks : torch.Tensor
        ``(N, chunk_len)`` with ``1 <= N <= max_chunks``.
    padded : bool
        True if the track was shorter than one chunk and got zero-padded.

    Example
    -------
    >>> chunks, padded = chunk_waveform(torch.arange(10.0), chunk_len=3, max_chunks=2)
    >>> chunks.tolist(), padded
    ([[0.0, 1.0, 2.0], [6.0, 7.0, 8.0]], False)
    >>> chunk_waveform(torch.ones(2), chunk_len=3, max_chunks=2)[0].tolist()
    [[1.0, 1.0, 0.0]]
    """
    if chunk_len < 1 or max_chunks < 1:
        raise ValueError(f"chunk_len ({chunk_len}) and max_chunks ({max_chunks}) must be positive")
    num_full = waveform.shape[-1] // chunk_len
    if num_full == 0:
        padded = torch.nn.functional.pad(waveform, (0, chunk_len - waveform.shape[-1]))  # (chunk_len,)
        return padded.unsqueeze(0), True
    chunks = waveform[: num_full * chunk_len].reshape(num_full, chunk_len)  # (num_full, chunk_len)
    if num_full > max_chunks:
        keep = np.linspace(0, num_full - 1, max_chunks).round().astype(np.int64)
        chunks = chunks[torch.from_numpy(keep)]  # (max_chunks, chunk_len)
    return chunks, False


@dataclass(frozen=True)
class CorruptionSpec:
    """A corruption of :mod:`semisupcon_recipe.corruptions` applied to every track.

    Each track gets its own deterministic seed derived from ``seed`` and its ID.
    ``params`` are the corruption's parameters (the block of
    ``hparams/augment/corruptions.yaml``; empty: the function's defaults); they are part
    of the feature-cache key.

    Example
    -------
    >>> spec = CorruptionSpec("reverb", 2, seed=0)
    >>> spec.tag, spec.track_seed("a") == spec.track_seed("a") != spec.track_seed("b")
    ('reverb-s2', True)
    >>> wave = torch.linspace(-1, 1, 800)
    >>> louder = CorruptionSpec("distortion", 2, params={"drive_db": 20.0}).apply(wave, 8000, "a")
    >>> bool((louder - CorruptionSpec("distortion", 2).apply(wave, 8000, "a")).abs().max() > 0.01)
    True
    """

    name: str
    severity: int
    seed: int = 0
    params: Mapping[str, object] = field(default_factory=dict, hash=False)

    @property
    def tag(self) -> str:
        """Short folder-safe label, e.g. ``reverb-s2``."""
        return f"{self.name}-s{self.severity}"

    def track_seed(self, item_id: str) -> int:
        """Seed of the corruption of one track (:func:`semisupcon_recipe.corruptions.item_seed`)."""
        from semisupcon_recipe.corruptions import item_seed

        return item_seed(item_id, self.seed)

    def apply(self, waveform: torch.Tensor, sample_rate: int, item_id: str) -> torch.Tensor:
        """Corrupt a ``(T,)`` waveform; returns ``(T,)`` float32."""
        from semisupcon_recipe.corruptions import corrupt

        try:
            corrupted = corrupt(waveform, sample_rate, self.name, self.severity, self.track_seed(item_id),
                                **self.params)
        except Exception as error:
            raise RuntimeError(f"corruption {self.tag} failed on track {item_id!r}: {error}") from error
        return torch.as_tensor(corrupted, dtype=torch.float32).reshape(-1)  # (T,)


class TrackChunks(torch.utils.data.Dataset):
    """Reads, corrupts and chunks tracks; unreadable files come back as a reason string."""

    def __init__(
        self,
        rows: Sequence[tuple[str, str]],
        sample_rate: int,
        chunk_len: int,
        max_chunks: int,
        corruption: CorruptionSpec | None,
    ) -> None:
        self.rows = list(rows)
        self.sample_rate = sample_rate
        self.chunk_len = chunk_len
        self.max_chunks = max_chunks
        self.corruption = corruption

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor | str, bool]:
        item_id, wav = self.rows[index]
        try:
            waveform = read_audio(wav, self.sample_rate)  # (T,)
        except AudioError as error:
            return item_id, str(error), False
        if self.corruption is not None:
            waveform = self.corruption.apply(waveform, self.sample_rate, item_id)  # (T,)
        chunks, padded = chunk_waveform(waveform, self.chunk_len, self.max_chunks)  # (N, chunk_len)
        return item_id, chunks, padded


def first_item(batch: list) -> object:
    """DataLoader ``collate_fn`` of a batch of one track: the track itself (chunk counts differ between tracks)."""
    return batch[0]
