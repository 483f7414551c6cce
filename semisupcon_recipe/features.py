"""Chunk embeddings of a manifest from a frozen encoder, extracted once and cached on disk.

The probing protocol (METHOD.md section 9) trains small heads on features of fixed-length
chunks of every track. Extracting them is the costly part, so it happens once per
(encoder weights, manifest rows in order, chunking, corruption) and is reused by every
probe run, seed and head type with that same combination (see Cache below).

Chunking
    A track read at the encoder's rate (and corrupted, for robustness runs) is cut into consecutive, non-overlapping chunks
    of ``chunk_len`` samples from its start; the tail shorter than a chunk is dropped.
    A track longer than ``max_chunks`` chunks keeps ``max_chunks`` of them, evenly spaced
    over the whole track (so the features cover the track, not only its beginning).
    A track shorter than one chunk is zero-padded to one chunk; these tracks are
    counted and logged.

Frozen encoder
    The encoder runs in eval mode (BatchNorm uses and keeps its running statistics)
    under ``torch.inference_mode``; its previous train/eval mode is restored afterwards.

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

import numpy as np
import torch
from torch import nn

from semisupcon_recipe.audio import AudioError, read_audio
from semisupcon_recipe.manifest import read_manifest

logger = logging.getLogger(__name__)

ENCODER_CHECKPOINT_NAME = "encoder.ckpt"
CHECKPOINT_PREFIX = "CKPT+"
CACHE_FORMAT_VERSION = 1


# ----------------------------------------------------------------------------------
# Encoder checkpoints
# ----------------------------------------------------------------------------------
def _checkpoint_meta(folder: Path) -> dict:
    """The ``CKPT.yaml`` meta of a SpeechBrain ``CKPT+*`` folder (empty when unreadable)."""
    meta = folder / "CKPT.yaml"
    if meta.is_file():
        import yaml

        with contextlib.suppress(yaml.YAMLError):
            loaded = yaml.safe_load(meta.read_text())
            if isinstance(loaded, dict):
                return loaded
    return {}


def _meta_number(meta: dict, key: str) -> float | None:
    """``meta[key]`` as a float, or None when absent or not a number."""
    with contextlib.suppress(TypeError, ValueError):
        return float(meta.get(key))
    return None


def resolve_encoder_checkpoint(path: str | Path) -> Path:
    """Find the encoder weights file that ``path`` designates.

    Parameters
    ----------
    path : str or Path
        An ``encoder.ckpt`` file; a folder holding ``encoder.ckpt`` (e.g. one
        ``CKPT+*`` folder); a SpeechBrain ``save`` folder or output
        folder (its ``save/`` subfolder): among its ``CKPT+*`` folders holding
        ``encoder.ckpt``, the one with the lowest validation ``loss`` when any recorded
        one (pretraining with validation manifests), else the most recent; the same
        choice as ``semisupcon export``.

    Returns
    -------
    Path
        The ``encoder.ckpt`` file.

    Raises
    ------
    FileNotFoundError
        Nothing usable at ``path``; the message says what was looked for.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ["CKPT+2024-01-01+00-00-00+00", "CKPT+2024-01-02+00-00-00+00"]:
    ...     (root / "save" / name).mkdir(parents=True)
    ...     _ = (root / "save" / name / "encoder.ckpt").write_bytes(b"")
    >>> resolve_encoder_checkpoint(root).parent.name
    'CKPT+2024-01-02+00-00-00+00'
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise FileNotFoundError(
            f"encoder checkpoint {path} does not exist; pass an {ENCODER_CHECKPOINT_NAME} file, "
            f"a CKPT+ folder or a pretraining output/save folder"
        )
    if (path / ENCODER_CHECKPOINT_NAME).is_file():
        return path / ENCODER_CHECKPOINT_NAME
    candidates = [
        folder
        for parent in (path, path / "save")
        if parent.is_dir()
        for folder in parent.glob(f"{CHECKPOINT_PREFIX}*")
        if (folder / ENCODER_CHECKPOINT_NAME).is_file()
    ]
    if not candidates:
        raise FileNotFoundError(
            f"no {ENCODER_CHECKPOINT_NAME} found in {path}, nor in {CHECKPOINT_PREFIX}* folders of "
            f"{path} or {path / 'save'}; point to a pretraining output folder that saved a "
            f"checkpoint, its save/ folder or the .ckpt file itself"
        )
    metas = {folder: _checkpoint_meta(folder) for folder in candidates}
    saved_at = {folder: _meta_number(meta, "unixtime") for folder, meta in metas.items()}  # from CKPT.yaml
    saved_at = {folder: folder.stat().st_mtime if time is None else time for folder, time in saved_at.items()}
    valid_loss = {folder: _meta_number(meta, "loss") for folder, meta in metas.items()}
    validated = [folder for folder in candidates if valid_loss[folder] is not None]
    if validated:
        best = min(validated, key=lambda folder: (valid_loss[folder], -saved_at[folder]))
        return best / ENCODER_CHECKPOINT_NAME
    latest = max(candidates, key=lambda folder: (saved_at[folder], folder.name))
    return latest / ENCODER_CHECKPOINT_NAME


def load_pretrained_encoder(encoder: nn.Module, checkpoint: str | Path, pretrainer: object | None = None) -> Path:
    """Load encoder weights with SpeechBrain's ``Pretrainer``.

    Parameters
    ----------
    encoder : nn.Module
        The encoder built from yaml (``!new:``).
    checkpoint : str or Path
        Anything :func:`resolve_encoder_checkpoint` accepts.
    pretrainer : speechbrain.utils.parameter_transfer.Pretrainer, optional
        A pretrainer whose loadables include ``encoder`` (as built in a recipe yaml);
        a new one is made if omitted.

    Returns
    -------
    Path
        The weights file that was loaded.

    Example
    -------
    >>> import tempfile
    >>> source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> path = Path(tempfile.mkdtemp()) / "encoder.ckpt"
    >>> torch.save(source.state_dict(), path)
    >>> _ = load_pretrained_encoder(target, path.parent)
    >>> torch.equal(source.weight, target.weight)
    True
    """
    from speechbrain.utils.parameter_transfer import Pretrainer

    weights = resolve_encoder_checkpoint(checkpoint)
    if pretrainer is None:
        pretrainer = Pretrainer(loadables={"encoder": encoder})
    pretrainer.add_paths({"encoder": str(weights.resolve())})
    pretrainer.collect_files()
    pretrainer.load_collected()
    logger.info("loaded encoder weights from %s", weights)
    return weights


def find_encoder_spec(checkpoint: str | Path) -> Path:
    """Find the ``encoder_spec.yaml`` that describes the encoder of a checkpoint.

    Looked for in ``checkpoint`` itself (a folder) and in the folders above the
    resolved ``encoder.ckpt`` (``CKPT+*``, ``save``, the output folder), where
    pretraining and export write it.

    Raises
    ------
    FileNotFoundError
        No spec found; the message lists where it looked.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "save" / "CKPT+1").mkdir(parents=True)
    >>> _ = (root / "save" / "CKPT+1" / "encoder.ckpt").write_bytes(b"")
    >>> _ = (root / "encoder_spec.yaml").write_text("sample_rate: 16000")
    >>> find_encoder_spec(root / "save" / "CKPT+1" / "encoder.ckpt") == root / "encoder_spec.yaml"
    True
    """
    from semisupcon_recipe.encoder_spec import SPEC_FILE

    weights = resolve_encoder_checkpoint(checkpoint)
    folders = ([Path(checkpoint)] if Path(checkpoint).is_dir() else []) + list(weights.parents)[:3]
    for folder in folders:
        if (folder / SPEC_FILE).is_file():
            return folder / SPEC_FILE
    raise FileNotFoundError(
        f"no {SPEC_FILE} found in {', '.join(str(folder) for folder in folders)}; pretraining writes it "
        f"into its output folder; pass its path explicitly (--encoder-spec) if it lives elsewhere"
    )


@dataclass
class LoadedEncoder:
    """A pretrained encoder rebuilt from its spec, with where it came from."""

    module: nn.Module
    weights: Path
    spec: Path
    clip_len: int


def load_encoder_from_checkpoint(checkpoint: str | Path, spec: str | Path | None = None) -> LoadedEncoder:
    """Rebuild a pretrained encoder and load its weights, from a checkpoint or an export.

    Parameters
    ----------
    checkpoint : str or Path
        A folder written by ``semisupcon export`` (``export.json``, checked sha256), or
        anything :func:`resolve_encoder_checkpoint` accepts (the encoder is then rebuilt
        from ``encoder_spec.yaml`` and its weights loaded with SpeechBrain's Pretrainer).
    spec : str or Path, optional
        The ``encoder_spec.yaml`` of a checkpoint; found with :func:`find_encoder_spec`
        if omitted. Not used for an exported folder.

    Returns
    -------
    LoadedEncoder
        ``module`` (weights loaded), ``weights`` file, ``spec`` file (the export's
        ``hyperparams.yaml``) and the encoder's ``clip_len`` (its training crop / export
        window, the default chunk length).
    """
    from semisupcon_recipe.interop.export import HPARAMS_FILE, MANIFEST_FILE, load_exported

    checkpoint = Path(checkpoint)
    if (checkpoint / MANIFEST_FILE).is_file():
        encoder, manifest = load_exported(checkpoint)
        return LoadedEncoder(encoder, checkpoint / manifest["weights"], checkpoint / HPARAMS_FILE, int(manifest["window"]))
    from semisupcon_recipe.encoder_spec import load_encoder_spec

    spec_path = Path(spec) if spec is not None else find_encoder_spec(checkpoint)
    description = load_encoder_spec(spec_path)
    encoder = description["encoder"]
    weights = load_pretrained_encoder(encoder, checkpoint)
    return LoadedEncoder(encoder, weights, spec_path, int(description["clip_len"]))


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


# ----------------------------------------------------------------------------------
# Chunking and corruption of one track
# ----------------------------------------------------------------------------------
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


class _TrackChunks(torch.utils.data.Dataset):
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


def _single(batch: list) -> object:
    return batch[0]


# ----------------------------------------------------------------------------------
# Extracted features
# ----------------------------------------------------------------------------------
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


def _write_atomically(path: Path, writer) -> None:
    """Call ``writer(tmp_path)`` then rename the result onto ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    writer(temporary)
    os.replace(temporary, path)


class FeatureCache:
    """One cache folder: the chunk embeddings of one manifest under one setting.

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
    ) -> None:
        for attribute in ("sample_rate", "embedding_dim"):
            if not isinstance(getattr(encoder, attribute, None), int):
                raise TypeError(
                    f"encoder {type(encoder).__name__} lacks the integer attribute {attribute!r} "
                    f"required by the encoder contract (B, T) -> (B, D)"
                )
        self.encoder = encoder
        self.manifest = Path(manifest)
        self.rows = [(item_id, row["wav"]) for item_id, row in read_manifest(manifest, replacements).items()]
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
        _write_atomically(self.folder / "meta.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))

    def extract(self, batch_size: int = 32, num_workers: int = 0, device: str | torch.device = "cpu") -> None:
        """Compute and write the missing shards (resumes an interrupted extraction).

        Parameters
        ----------
        batch_size : int
            Chunks per encoder call.
        num_workers : int
            DataLoader processes reading and corrupting audio.
        device : str or torch.device
            Where the encoder runs; the encoder is moved there.
        """
        missing = self.missing_shards()
        if not missing:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / "meta.json").is_file():
            self._write_meta()
        self.encoder.to(device)
        with frozen(self.encoder):
            for index in missing:
                rows = self.rows[index * self.shard_size : (index + 1) * self.shard_size]
                shard = self._extract_shard(rows, batch_size, num_workers, device)
                _write_atomically(self.shard_path(index), lambda tmp: torch.save(shard, tmp))
                logger.info("%s: shard %d/%d written (%d tracks)", self.folder.name, index + 1, self.num_shards, len(rows))

    def _extract_shard(self, rows: list, batch_size: int, num_workers: int, device: str | torch.device) -> dict:
        reader = torch.utils.data.DataLoader(
            _TrackChunks(rows, self.encoder.sample_rate, self.chunk_len, self.max_chunks, self.corruption),
            batch_size=1,
            collate_fn=_single,
            num_workers=num_workers,
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


def extract_embeddings(
    encoder: nn.Module,
    manifest: str | Path,
    cache_root: str | Path,
    chunk_len: int,
    max_chunks: int,
    corruption: CorruptionSpec | None = None,
    replacements: Mapping[str, str] | None = None,
    batch_size: int = 32,
    shard_size: int = 256,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
) -> TrackEmbeddings:
    """Chunk embeddings of every readable track of a manifest, from the cache if possible.

    Parameters
    ----------
    encoder : nn.Module
        ``(B, T) -> (B, D)`` with integer ``sample_rate`` and ``embedding_dim``.
    manifest : str or Path
        SpeechBrain CSV.
    cache_root : str or Path
        Folder of the feature caches.
    chunk_len, max_chunks : int
        Chunking (module docstring).
    corruption : CorruptionSpec, optional
        Corruption applied to each track before chunking.
    replacements : mapping, optional
        ``$name`` replacements of the manifest.
    batch_size, shard_size, num_workers, device
        Engineering knobs of the extraction (see :class:`FeatureCache`).

    Returns
    -------
    TrackEmbeddings

    Example
    -------
    >>> import tempfile, soundfile
    >>> from semisupcon_recipe.manifest import write_manifest
    >>> folder = Path(tempfile.mkdtemp())
    >>> soundfile.write(folder / "a.wav", np.random.randn(250).astype("float32"), 100)
    >>> _ = write_manifest(folder / "m.csv", [{"ID": "a", "duration": 2.5, "wav": str(folder / "a.wav")},
    ...                                      {"ID": "b", "duration": 1.0, "wav": str(folder / "b.wav")}])
    >>> encoder = nn.Linear(100, 4); encoder.sample_rate, encoder.embedding_dim = 100, 4
    >>> features = extract_embeddings(encoder, folder / "m.csv", folder / "cache", chunk_len=100, max_chunks=8)
    >>> features.ids, features.chunks.shape, list(features.skipped)
    (['a'], torch.Size([2, 4]), ['b'])
    """
    cache = FeatureCache(encoder, manifest, cache_root, chunk_len, max_chunks, corruption, replacements, shard_size)
    if cache.is_complete():
        logger.info("features of %s reused from %s", manifest, cache.folder)
    else:
        cache.extract(batch_size=batch_size, num_workers=num_workers, device=device)
    features = cache.load()
    if features.skipped:
        examples = "; ".join(f"{key}: {value}" for key, value in list(features.skipped.items())[:3])
        logger.warning(
            "%s: %d of %d track(s) could not be read and were skipped (e.g. %s)",
            manifest, len(features.skipped), len(cache.rows), examples,
        )
    if features.padded:
        logger.info(
            "%s: %d track(s) shorter than one chunk (%d samples) were zero-padded",
            manifest, len(features.padded), cache.chunk_len,
        )
    return features
