"""Planted-signal chunk features for the probe protocol tests (no audio, no encoder).

Each track belongs to one class (multi-class) or carries a few tags (multi-label); its
chunk embeddings are a class-dependent direction in a few dimensions plus noise, and
the dimensions have very different scales (as real embeddings do), so an
unstandardized probe is at a disadvantage and a standardized one is not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from semisupcon_recipe.features import TrackEmbeddings
from semisupcon_recipe.manifest import write_manifest

SPLIT_TRACKS = {"train": 240, "valid": 120, "test": 300}
CHUNKS_PER_TRACK = 3


def planted_features(folder: Path, kind: str, num_outputs: int = 6, dim: int = 32, seed: int = 0,
                     signal: float = 0.5) -> tuple[dict, dict]:
    """Write manifests and return ``(features, manifests)`` per split for ``kind``.

    ``kind`` is ``"multiclass"`` (one of ``num_outputs`` classes per track) or
    ``"multilabel"`` (each of ``num_outputs`` tags active with probability 0.3).
    """
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(num_outputs, dim))  # (C, D)
    scales = 10.0 ** rng.uniform(-2, 2, size=dim)  # (D,) very different scales per dimension
    offsets = rng.normal(scale=5.0, size=dim)  # (D,)
    features, manifests = {}, {}
    folder.mkdir(parents=True, exist_ok=True)
    for split, tracks in SPLIT_TRACKS.items():
        if kind == "multiclass":
            classes = rng.integers(0, num_outputs, size=tracks)
            active = np.eye(num_outputs)[classes]  # (M, C)
            cells = [f"c{index}" for index in classes]
        else:
            active = (rng.random(size=(tracks, num_outputs)) < 0.3).astype(float)  # (M, C)
            cells = [";".join(f"t{index}" for index in np.flatnonzero(row)) for row in active]
        track_signal = signal * active @ directions  # (M, D)
        chunks = np.repeat(track_signal, CHUNKS_PER_TRACK, axis=0) + rng.normal(size=(tracks * CHUNKS_PER_TRACK, dim))
        chunks = chunks * scales + offsets  # (N, D)
        ids = [f"{split}{index:04d}" for index in range(tracks)]
        features[split] = TrackEmbeddings(ids, torch.tensor(chunks, dtype=torch.float32),
                                          torch.full((tracks,), CHUNKS_PER_TRACK))
        manifests[split] = folder / f"{split}.csv"
        write_manifest(manifests[split], [{"ID": item_id, "duration": 1.0, "wav": f"{item_id}.wav", "labels": cell}
                                          for item_id, cell in zip(ids, cells)])
    return features, manifests
