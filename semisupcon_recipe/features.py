"""Chunk embeddings of a manifest from a frozen encoder, extracted once and cached on disk.

The probing protocol (METHOD.md section 9) trains small heads on features of fixed-length
chunks of every track. Extracting them is the costly part, so it happens once per
(encoder weights, manifest rows in order, chunking, corruption) and is reused by every
probe run, seed and head type with that same combination (see Cache below).

Chunking
    :mod:`semisupcon_recipe.chunking` (fixed-length chunks, evenly spaced, at most
    ``max_chunks`` per track); tracks shorter than one chunk are zero-padded, counted and
    logged.

Frozen encoder
    The encoder runs in eval mode (BatchNorm uses and keeps its running statistics)
    under ``torch.inference_mode``; its previous train/eval mode is restored afterwards.
    Some encoders draw random numbers even in eval mode (SpeechBrain's
    ``StatisticsPooling``, the x-vector's pooling, adds Gaussian noise of 1e-5 to 9e-5 to
    the pooled mean), so every encoder call runs with torch's global generator seeded at
    :data:`EXTRACTION_SEED` (:func:`seeded_randomness`), and the reader's worker
    processes are seeded from it too: a batch's features depend on its waveforms only,
    not on what the process drew before, and the caller's random stream is left where
    it was.

Cache
    ``<cache_root>/<corruption tag or "clean">-<key>/`` (``meta.json`` names the
    manifest and settings) where ``key`` hashes the encoder's class and ``state_dict``
    (weights and BatchNorm statistics), its sample rate, every manifest row in order
    (ID, audio path, file size and modification time), the chunk settings and the
    corruption (name, severity, seed). Tracks are processed in shards of
    ``shard_size`` rows; each shard is written atomically (``shard_00000.pt``), so an
    interrupted extraction resumes at the first missing shard and a complete cache is
    loaded without running the encoder. Features are reused only when all of these
    match: the same encoder (class, weights, sample rate), the same manifest rows
    (same IDs and audio files, unchanged on disk) in the same order, the same chunking
    and the same corruption. Labels (and the manifest's file name and ``duration``
    column) are not part of the key, so two tasks share features only when their
    manifests list the same tracks in the same order; tasks over one dataset whose
    manifests keep different tracks (e.g. MagnaTagATune top-50 vs all tags, or the
    MTG-Jamendo tag categories) each extract their own. Unreadable files are skipped,
    counted in the log and listed per shard.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch
from torch import nn

from semisupcon_recipe.chunking import CorruptionSpec, TrackChunks, first_item
from semisupcon_recipe.cli_options import default_device
from semisupcon_recipe.files import atomic_path, atomic_write_text
from semisupcon_recipe.manifest import read_manifest

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 2  # 2: encoder calls under EXTRACTION_SEED (version 1 caches drew from the process's random state)
EXTRACTION_SEED = 0


def state_dict_digest(module: nn.Module) -> str:
    """SHA-256 of a module's class and ``state_dict`` (parameters and buffers).

    Example
    -------
    >>> a, b = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    >>> state_dict_digest(a) == state_dict_digest(b)
    True
    >>> _ = b.running_mean.add_(1.0)
    >>> state_dict_digest(a) == state_dict_digest(b)
    False
    """
    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def frozen(encoder: nn.Module) -> Iterator[nn.Module]:
    """Run ``encoder`` in eval mode without gradients, restoring its mode afterwards.

    Example
    -------
    >>> layer = nn.BatchNorm1d(2).train()
    >>> with frozen(layer):
    ...     _ = layer(torch.randn(4, 2))
    >>> layer.training, float(layer.running_mean.abs().sum())
    (True, 0.0)
    """
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.inference_mode():
            yield encoder
    finally:
        encoder.train(was_training)


@contextlib.contextmanager
def seeded_randomness(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run the block with torch's global CPU generator (and ``device``'s, when it is a CUDA
    device) seeded at ``seed``; the caller's generator states are restored afterwards.

    Example
    -------
    >>> _ = torch.manual_seed(5)
    >>> with seeded_randomness(0):
    ...     inside = torch.randn(3)
    >>> after = torch.randn(3)  # the caller's stream goes on as if the block drew nothing
    >>> torch.equal(inside, torch.manual_seed(0) and torch.randn(3)), torch.equal(after, torch.manual_seed(5) and torch.randn(3))
    (True, True)
    """
    device = torch.device(device)
    cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda_devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


@dataclass
class TrackEmbeddings:
    """Chunk embeddings of the readable tracks of a manifest, grouped by track.

    Attributes
    ----------
    ids : list of str
        Track IDs in manifest order (unreadable tracks left out).
    chunks : torch.Tensor
        ``(N, D)`` chunk embeddings, the chunks of ``ids[0]`` first.
    counts : torch.Tensor
        ``(M,)`` number of chunks of each track.
    skipped : dict
        ID -> reason, for the tracks that could not be read.
    padded : list of str
        IDs of the tracks shorter than one chunk (zero-padded).
    folder : Path or None
        The cache folder they were loaded from.

    Example
    -------
    >>> features = TrackEmbeddings(["a", "b"], torch.tensor([[1.0], [3.0], [5.0]]), torch.tensor([2, 1]))
    >>> features.track_means().tolist(), features.track_index().tolist()
    ([[2.0], [5.0]], [0, 0, 1])
    """

    ids: list[str]
    chunks: torch.Tensor
    counts: torch.Tensor
    skipped: dict[str, str] = field(default_factory=dict)
    padded: list[str] = field(default_factory=list)
    folder: Path | None = None

    def track_index(self) -> torch.Tensor:
        """``(N,)`` index into ``ids`` of every chunk."""
        return torch.repeat_interleave(torch.arange(len(self.ids)), self.counts)

    def track_means(self) -> torch.Tensor:
        """``(M, D)`` mean chunk embedding of every track (the track-level feature)."""
        sums = torch.zeros(len(self.ids), self.chunks.shape[1], dtype=self.chunks.dtype)  # (M, D)
        sums.index_add_(0, self.track_index(), self.chunks)
        return sums / self.counts.clamp(min=1).unsqueeze(1).to(self.chunks.dtype)

    def summary(self) -> dict:
        """Counts for results files: tracks, chunks, skipped, padded."""
        return {
            "tracks": len(self.ids),
            "chunks": int(self.counts.sum()),
            "skipped": len(self.skipped),
            "padded": len(self.padded),
            "cache": str(self.folder) if self.folder else None,
        }


def _rows_digest(rows: Sequence[tuple[str, str]]) -> str:
    """Hash of (ID, path, size, mtime) of every row, in order."""
    digest = hashlib.sha256()
    for item_id, wav in rows:
        try:
            stat = os.stat(wav)
            signature = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            signature = "missing"
        digest.update(f"{item_id}\0{wav}\0{signature}\n".encode())
    return digest.hexdigest()


class FeatureCache:
    """One cache folder: the chunk embeddings of one manifest under one setting.

    :meth:`embeddings` returns them (extracting them first when the cache is incomplete).

    Parameters
    ----------
    encoder : nn.Module
        Frozen encoder with integer ``sample_rate`` and ``embedding_dim`` attributes.
    manifest : str or Path
        SpeechBrain CSV (``ID,duration,wav[,labels]``).
    cache_root : str or Path
        Folder holding all cache folders.
    chunk_len, max_chunks : int
        Chunking (see the module docstring).
    corruption : CorruptionSpec, optional
        Corruption applied to every track before chunking.
    replacements : mapping, optional
        ``$name`` replacements for the manifest.
    shard_size : int
        Tracks per shard file (only used when the folder is created).
    rows : mapping, optional
        The manifest already read (:func:`semisupcon_recipe.manifest.read_manifest`), so
        that it is not read again; ``manifest`` then only names it.
    """

    def __init__(
        self,
        encoder: nn.Module,
        manifest: str | Path,
        cache_root: str | Path,
        chunk_len: int,
        max_chunks: int,
        corruption: CorruptionSpec | None = None,
        replacements: Mapping[str, str] | None = None,
        shard_size: int = 256,
        rows: Mapping[str, Mapping] | None = None,
    ) -> None:
        for attribute in ("sample_rate", "embedding_dim"):
            if not isinstance(getattr(encoder, attribute, None), int):
                raise TypeError(
                    f"encoder {type(encoder).__name__} lacks the integer attribute {attribute!r} "
                    f"required by the encoder contract (B, T) -> (B, D)"
                )
        self.encoder = encoder
        self.manifest = Path(manifest)
        rows = read_manifest(manifest, replacements) if rows is None else rows
        self.rows = [(item_id, row["wav"]) for item_id, row in rows.items()]
        self.chunk_len = int(chunk_len)
        self.max_chunks = int(max_chunks)
        self.corruption = corruption
        self.key_inputs = {
            "format": CACHE_FORMAT_VERSION,
            "encoder": state_dict_digest(encoder),
            "sample_rate": encoder.sample_rate,
            "tracks": _rows_digest(self.rows),
            "chunk_len": self.chunk_len,
            "max_chunks": self.max_chunks,
            "corruption": None if corruption is None else vars(corruption),
        }
        key = hashlib.sha256(json.dumps(self.key_inputs, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = Path(cache_root) / f"{corruption.tag if corruption else 'clean'}-{key}"
        meta_path = self.folder / "meta.json"
        if meta_path.is_file():
            self.shard_size = int(json.loads(meta_path.read_text())["shard_size"])
        else:
            self.shard_size = int(shard_size)

    @property
    def num_shards(self) -> int:
        """Number of shard files of a complete cache."""
        return max(1, -(-len(self.rows) // self.shard_size))

    def shard_path(self, index: int) -> Path:
        """File of shard ``index``."""
        return self.folder / f"shard_{index:05d}.pt"

    def missing_shards(self) -> list[int]:
        """Indices of the shards not yet on disk."""
        return [index for index in range(self.num_shards) if not self.shard_path(index).is_file()]

    def is_complete(self) -> bool:
        """True if every shard is on disk (loading will not run the encoder)."""
        return not self.missing_shards()

    def _write_meta(self) -> None:
        meta = {**self.key_inputs, "manifest": str(self.manifest), "shard_size": self.shard_size,
                "num_tracks": len(self.rows)}
        atomic_write_text(self.folder / "meta.json", json.dumps(meta, indent=1))

    def extract(self, batch_size: int = 32, num_workers: int = 0, device: str | torch.device | None = None) -> None:
        """Compute and write the missing shards (resumes an interrupted extraction).

        Parameters
        ----------
        batch_size : int
            Chunks per encoder call.
        num_workers : int
            DataLoader processes reading and corrupting audio.
        device : str or torch.device, optional
            Where the encoder runs (moved there); default cuda when available, else cpu.
        """
        missing = self.missing_shards()
        if not missing:
            return
        device = device or default_device()
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / "meta.json").is_file():
            self._write_meta()
        self.encoder.to(device)
        with frozen(self.encoder):
            for index in missing:
                rows = self.rows[index * self.shard_size : (index + 1) * self.shard_size]
                shard = self._extract_shard(rows, batch_size, num_workers, device)
                with atomic_path(self.shard_path(index)) as temporary:
                    torch.save(shard, temporary)
                logger.info("%s: shard %d/%d written (%d tracks)", self.folder.name, index + 1, self.num_shards, len(rows))

    def _extract_shard(self, rows: list, batch_size: int, num_workers: int, device: str | torch.device) -> dict:
        reader = torch.utils.data.DataLoader(
            TrackChunks(rows, self.encoder.sample_rate, self.chunk_len, self.max_chunks, self.corruption),
            batch_size=1,
            collate_fn=first_item,
            num_workers=num_workers,
            generator=torch.Generator().manual_seed(EXTRACTION_SEED),  # workers' seeds: fixed, not drawn from the caller's stream
        )
        ids, counts, embeddings, skipped, padded = [], [], [], {}, []
        pending: list[torch.Tensor] = []

        def encode_pending() -> None:
            if not pending:
                return
            waveforms = torch.cat(pending)  # (n, chunk_len)
            pending.clear()
            for start in range(0, waveforms.shape[0], batch_size):
                batch = waveforms[start : start + batch_size].to(device)  # (b, chunk_len)
                with seeded_randomness(EXTRACTION_SEED, device):
                    output = self.encoder(batch)  # (b, D)
                if output.shape != (batch.shape[0], self.encoder.embedding_dim):
                    raise ValueError(
                        f"encoder {type(self.encoder).__name__} returned {tuple(output.shape)} for "
                        f"{tuple(batch.shape)} waveforms; the contract is (B, T) -> (B, embedding_dim="
                        f"{self.encoder.embedding_dim})"
                    )
                embeddings.append(output.float().cpu())

        for item_id, chunks, was_padded in reader:
            if isinstance(chunks, str):
                skipped[item_id] = chunks
                continue
            ids.append(item_id)
            counts.append(chunks.shape[0])
            if was_padded:
                padded.append(item_id)
            pending.append(chunks)
            if sum(part.shape[0] for part in pending) >= batch_size:
                encode_pending()
        encode_pending()
        dim = self.encoder.embedding_dim
        return {
            "ids": ids,
            "counts": torch.tensor(counts, dtype=torch.long),
            "embeddings": torch.cat(embeddings) if embeddings else torch.zeros(0, dim),
            "skipped": skipped,
            "padded": padded,
        }

    def load(self) -> TrackEmbeddings:
        """Read a complete cache (raises if shards are missing: call :meth:`extract`)."""
        missing = self.missing_shards()
        if missing:
            raise FileNotFoundError(f"{self.folder} lacks {len(missing)} shard(s); run extract() first")
        shards = [torch.load(self.shard_path(index), weights_only=True) for index in range(self.num_shards)]
        features = TrackEmbeddings(
            ids=[item_id for shard in shards for item_id in shard["ids"]],
            chunks=torch.cat([shard["embeddings"] for shard in shards]),
            counts=torch.cat([shard["counts"] for shard in shards]),
            skipped={key: value for shard in shards for key, value in shard["skipped"].items()},
            padded=[item_id for shard in shards for item_id in shard["padded"]],
            folder=self.folder,
        )
        return features

    def embeddings(
        self, batch_size: int = 32, num_workers: int = 0, device: str | torch.device | None = None
    ) -> TrackEmbeddings:
        """Chunk embeddings of every readable track: loaded when cached, else extracted first.

        ``batch_size``, ``num_workers`` and ``device`` are those of :meth:`extract`; the
        unreadable (skipped) and zero-padded tracks are counted in the log.

        Example
        -------
        >>> import tempfile, numpy as np, soundfile
        >>> from semisupcon_recipe.manifest import write_manifest
        >>> folder = Path(tempfile.mkdtemp())
        >>> soundfile.write(folder / "a.wav", 0.1 * np.random.randn(2500).astype("float32"), 1000)
        >>> _ = write_manifest(folder / "m.csv", [{"ID": "a", "duration": 2.5, "wav": str(folder / "a.wav")},
        ...                                      {"ID": "b", "duration": 1.0, "wav": str(folder / "b.wav")}])
        >>> encoder = nn.Linear(1000, 4); encoder.sample_rate, encoder.embedding_dim = 1000, 4
        >>> features = FeatureCache(encoder, folder / "m.csv", folder / "cache", chunk_len=1000, max_chunks=8).embeddings()
        >>> features.ids, features.chunks.shape, list(features.skipped)
        (['a'], torch.Size([2, 4]), ['b'])
        """
        if self.is_complete():
            logger.info("features of %s reused from %s", self.manifest, self.folder)
        else:
            self.extract(batch_size=batch_size, num_workers=num_workers, device=device)
        features = self.load()
        if features.skipped:
            examples = "; ".join(f"{key}: {value}" for key, value in list(features.skipped.items())[:3])
            logger.warning(
                "%s: %d of %d track(s) could not be read and were skipped (e.g. %s)",
                self.manifest, len(features.skipped), len(self.rows), examples,
            )
        if features.padded:
            logger.info(
                "%s: %d track(s) shorter than one chunk (%d samples) were zero-padded",
                self.manifest, len(features.padded), self.chunk_len,
            )
        return features
