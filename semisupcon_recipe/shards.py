"""WebDataset tar shards: pretraining pools too large to list per file, streamed.

:func:`write_shards` (``semisupcon cache MANIFEST --out DIR --sample-rate R
--clips-per-shard K``) decodes a manifest once at the training rate into tar shards
of ``K`` clips, the WebDataset layout (``<key>.npy`` int16 audio + ``<key>.json``
ID and labels), plus ``shards.json``, the index of IDs, labels and lengths per shard
(a few bytes per clip: what the p_s draw, the vocabulary and the DDP split need,
without opening a tar). Writing resumes shard by shard; unreadable files are skipped
and counted.

:class:`ShardedViewBatches` streams batches of views from a labeled and an unlabeled
shard set with the method's mixed-label batches (``floor(B * b_s)`` labeled clips,
the ``p_s`` subset, the smaller pool cycled), DDP-aware: under ``torch.distributed``
each rank reads its own shards (whole shards when there are at least as many as
ranks, else every ``world``-th clip), every rank yields the same number of batches,
and no clip of the epoch-defining pool is read twice in an epoch across ranks. Views
are the ones :class:`~semisupcon_recipe.views.ViewReader` cuts from the cache (same
``(seed, epoch, ID)`` randomness). It is a SpeechBrain recoverable: a checkpoint
records ``(epoch, batches done)`` and a resumed run yields exactly the remaining
batches of the interrupted epoch (it re-reads the consumed part of its shards
without training on it). Read it with ``num_workers=0``: a batch costs no decoding.
"""

from __future__ import annotations

import io
import json
import logging
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import webdataset as wds
from speechbrain.utils.checkpoints import mark_as_loader, mark_as_saver, register_checkpoint_hooks

from semisupcon_recipe.audio_cache import CacheRateError, as_float, encode_samples
from semisupcon_recipe.data import EpochSeed, ViewBatch
from semisupcon_recipe.files import atomic_path, atomic_write_text
from semisupcon_recipe.manifest import LabelVocabulary
from semisupcon_recipe.views import view_starts

logger = logging.getLogger(__name__)

INDEX_FILE = "shards.json"


def _decode(source: str, sample_rate: int) -> tuple[np.ndarray | None, str | None]:
    """``(int16/float32 samples at sample_rate, None)`` or ``(None, error)``; runs in a worker."""
    from semisupcon_recipe.audio import AudioError, audio_info, read_audio

    torch.set_num_threads(1)
    try:
        frames, source_rate = audio_info(source)
        length = frames * sample_rate // source_rate  # the length on-the-fly reading assumes
        waveform = read_audio(source, sample_rate).numpy()[:length]
        return encode_samples(np.pad(waveform, (0, length - len(waveform)))), None
    except AudioError as error:
        return None, str(error)


def _save_index(folder: Path, index: dict) -> None:
    atomic_write_text(folder / INDEX_FILE, json.dumps(index))


def write_shards(rows: dict[str, dict], out: str | Path, sample_rate: int, clips_per_shard: int, workers: int = 1) -> dict:
    """Write ``rows`` (``{ID: manifest row}``) as tar shards in ``out``; returns counts.

    Example
    -------
    >>> import tempfile, soundfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in "abc":
    ...     soundfile.write(folder / f"{name}.wav", np.zeros(8000, dtype="float32"), 16000)
    >>> rows = {name: {"wav": str(folder / f"{name}.wav"), "labels": "rock"} for name in "abc"}
    >>> write_shards(rows, folder / "shards", 16000, clips_per_shard=2)
    {'written': 3, 'reused': 0, 'skipped': 0, 'shards': 2}
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / INDEX_FILE
    if index_path.is_file():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if index["sample_rate"] != sample_rate:
            raise CacheRateError(f"{out} holds shards at {index['sample_rate']} Hz; use another --out for {sample_rate} Hz")
    else:
        index = {"sample_rate": sample_rate, "shards": [], "skipped": {}}
    done = {item_id for shard in index["shards"] for item_id in shard["ids"]} | set(index["skipped"])
    todo = [item_id for item_id in rows if item_id not in done]
    written = 0
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for first in range(0, len(todo), clips_per_shard):
            chunk = todo[first : first + clips_per_shard]
            decoded = pool.map(_decode, [rows[item_id]["wav"] for item_id in chunk], [sample_rate] * len(chunk))
            name = f"shard-{len(index['shards']):06d}.tar"
            entry = {"name": name, "ids": [], "labels": [], "num_samples": []}
            with atomic_path(out / name) as temporary, wds.TarWriter(str(temporary)) as writer:
                for item_id, (samples, error) in zip(chunk, decoded):
                    if error is not None:
                        index["skipped"][item_id] = error
                        logger.warning("skipping %s", error)
                        continue
                    key = f"{len(done) + written:010d}"
                    writer.write({"__key__": key, "npy": samples, "json": {"id": item_id, "labels": rows[item_id]["labels"]}})
                    entry["ids"].append(item_id)
                    entry["labels"].append(rows[item_id]["labels"])
                    entry["num_samples"].append(len(samples))
                    written += 1
            index["shards"].append(entry)
            _save_index(out, index)
    _save_index(out, index)
    return {"written": written, "reused": len(rows) - len(todo), "skipped": len(index["skipped"]), "shards": len(index["shards"])}


@dataclass
class ShardPool:
    """One shard set (labeled or unlabeled) as listed by its index."""

    folder: Path
    shards: list[dict]
    sample_rate: int

    @classmethod
    def load(cls, folder: str | Path, sample_rate: int) -> "ShardPool":
        folder = Path(folder)
        path = folder / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: write the shards with `semisupcon cache ... --clips-per-shard K`")
        index = json.loads(path.read_text(encoding="utf-8"))
        if index["sample_rate"] != sample_rate:
            raise CacheRateError(
                f"{folder} holds shards at {index['sample_rate']} Hz but this run reads {sample_rate} Hz; "
                f"write them again with --sample-rate {sample_rate}"
            )
        return cls(folder, index["shards"], sample_rate)


@register_checkpoint_hooks
class ShardedViewBatches(torch.utils.data.IterableDataset):
    """Mixed-label batches of views streamed from WebDataset shards (see the module docstring).

    Parameters
    ----------
    labeled_shards, unlabeled_shards : str or Path, optional
        Folders written by :func:`write_shards` (their ``shards.json``).
    sample_rate, clip_len, num_views : int
        Views as :class:`~semisupcon_recipe.views.ViewReader` cuts them.
    vocabulary : LabelVocabulary
        Encodes the labels cells.
    kept_labeled : set of str
        IDs of the labeled pool kept by the ``p_s`` draw.
    batch_size : int
        Clips per batch on each rank.
    labeled_share : float
        ``b_s``.
    epoch_seed : EpochSeed
        Randomness of the views and of the epoch's order (its ``epoch`` is the Brain's).
    shuffle_buffer : int
        Clips held to shuffle the stream.
    rank, world_size : int
        This process's rank and the number of processes (each reads its own shards).
    """

    def __init__(
        self,
        labeled_shards: str | Path | None,
        unlabeled_shards: str | Path | None,
        sample_rate: int,
        clip_len: int,
        num_views: int,
        vocabulary: LabelVocabulary,
        kept_labeled: set[str],
        batch_size: int,
        labeled_share: float,
        epoch_seed: EpochSeed,
        shuffle_buffer: int = 64,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        self.clip_len, self.num_views = int(clip_len), int(num_views)
        self.vocabulary = vocabulary
        self.epoch_seed = epoch_seed
        self.shuffle_buffer = int(shuffle_buffer)
        self.rank, self.world_size = int(rank), int(world_size)
        num_labeled = math.floor(batch_size * labeled_share)
        self.pools = []  # (name, pool, clips per batch, keep(ID) -> bool)
        for name, folder, share in (
            ("labeled", labeled_shards, num_labeled),
            ("unlabeled", unlabeled_shards, batch_size - num_labeled),
        ):
            if not share:
                continue
            if folder is None:
                raise ValueError(f"every batch needs {share} {name} clips but no {name} shards are given")
            keep = (lambda item_id: item_id in kept_labeled) if name == "labeled" else (lambda item_id: True)
            pool = ShardPool.load(folder, sample_rate)
            too_short = [i for shard in pool.shards for i, n in zip(shard["ids"], shard["num_samples"]) if n < clip_len]
            if too_short:
                logger.warning(
                    "skipping %d %s clip(s) shorter than one view (%d samples): %s",
                    len(too_short), name, clip_len, ", ".join(too_short[:10]),
                )
            if name == "labeled":
                unlabeled_rows = sum(not cell for shard in pool.shards for cell in shard["labels"])
                if unlabeled_rows:
                    logger.warning("%d clip(s) of the labeled shards have no labels and are not used; "
                                   "write them to the unlabeled pool's shards", unlabeled_rows)
            self.pools.append((name, pool, share, keep))
        self._labeled_pool = 0 if num_labeled else -1  # index of the labeled pool in self.pools
        self.batches_per_epoch = self._batches_per_epoch()
        self.batches_done = 0
        self._resume: tuple[int, int] | None = None

    def _rank_shards(self, pool: ShardPool, rank: int) -> tuple[list[tuple[dict, int]], int]:
        """This rank's ``(shard, position of its first clip in the pool)`` and the clip stride.

        Shard ``i`` belongs to rank ``i % world`` (stride 1); with fewer shards than ranks
        every rank reads every shard and keeps the clips at positions ``rank (mod world)``.
        The assignment never changes, so every epoch has the same batches per rank.
        """
        offsets = np.cumsum([0] + [len(shard["ids"]) for shard in pool.shards])[:-1]
        placed = list(zip(pool.shards, offsets.tolist()))
        if len(placed) >= self.world_size:
            return placed[rank :: self.world_size], 1
        return placed, self.world_size

    def _batches_per_epoch(self) -> int:
        """One pass over the pool needing most batches, on the rank with fewest clips of it."""
        passes = []
        for name, pool, share, keep in self.pools:
            counts = []
            for rank in range(self.world_size):
                shards, stride = self._rank_shards(pool, rank)
                counts.append(sum(
                    keep(item_id) and length >= self.clip_len and (offset + position) % stride == rank % stride
                    for shard, offset in shards
                    for position, (item_id, length) in enumerate(zip(shard["ids"], shard["num_samples"]))
                ))
            if min(counts) < share:
                raise ValueError(
                    f"the {name} shards hold {min(counts)} usable clip(s) for one of {self.world_size} rank(s), "
                    f"fewer than the {share} each batch needs; write more clips or lower the batch size"
                )
            passes.append(min(counts) // share)
        return max(passes)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _clips(self, pool: ShardPool, keep, epoch: int, pool_index: int) -> Iterator[tuple[str, str, np.ndarray]]:
        """``(ID, labels, views (N, L) int16/float32)`` of this rank's clips, shuffled, cycled."""
        shards, stride = self._rank_shards(pool, self.rank)
        offsets = {str(pool.folder / shard["name"]): offset for shard, offset in shards}
        for cycle in range(10**9):
            rng = np.random.default_rng([self.epoch_seed.seed, epoch, pool_index, cycle, self.rank])
            urls = [{"url": str(pool.folder / shards[i][0]["name"])} for i in rng.permutation(len(shards))]
            buffer: list[tuple[str, str, np.ndarray]] = []
            position, url = 0, None
            for sample in wds.tariterators.tarfile_samples(urls):
                position = position + 1 if sample["__url__"] == url else 0
                url = sample["__url__"]
                if (offsets[url] + position) % stride != self.rank % stride:
                    continue
                meta = json.loads(sample["json"])
                samples = np.load(io.BytesIO(sample["npy"]))  # (T,)
                if not keep(meta["id"]) or len(samples) < self.clip_len:
                    continue
                starts = view_starts(len(samples), self.clip_len, self.num_views, self.epoch_seed.rng(meta["id"]))
                labels = meta["labels"] if pool_index == self._labeled_pool else ""  # like manifests: unlabeled pool's labels ignored
                buffer.append((meta["id"], labels, np.stack([samples[s : s + self.clip_len] for s in starts])))
                if len(buffer) >= self.shuffle_buffer:
                    yield buffer.pop(int(rng.integers(len(buffer))))
            while buffer:
                yield buffer.pop(int(rng.integers(len(buffer))))

    def _batch(self, items: list[tuple[str, str, np.ndarray]]) -> ViewBatch:
        return ViewBatch(
            ids=[item_id for item_id, _, _ in items],
            views=torch.from_numpy(np.stack([as_float(views) for _, _, views in items])),  # (B, N, L)
            labels=torch.stack([
                self.vocabulary.encode(labels, where=item_id) if labels else self.vocabulary.empty()
                for item_id, labels, _ in items
            ]),  # (B,) or (B, C)
            labeled=torch.tensor([bool(labels) for _, labels, _ in items]),  # (B,)
        )

    def __iter__(self) -> Iterator[ViewBatch]:
        epoch = self.epoch_seed.epoch
        skip = self._resume[1] if self._resume is not None and self._resume[0] == epoch else 0
        self._resume = None
        streams = [(self._clips(pool, keep, epoch, index), share) for index, (_, pool, share, keep) in enumerate(self.pools)]
        for number in range(self.batches_per_epoch):
            items = [next(stream) for stream, share in streams for _ in range(share)]
            if number < skip:
                continue
            self.batches_done = number + 1
            yield self._batch(items)

    def state_dict(self) -> dict:
        """``{"epoch", "batches_done"}``: where a resumed run continues."""
        return {"epoch": self.epoch_seed.epoch, "batches_done": self.batches_done}

    def load_state_dict(self, state: dict) -> None:
        """Make the next iteration of epoch ``state["epoch"]`` skip the batches already done."""
        self._resume = (int(state["epoch"]), int(state["batches_done"]))

    @mark_as_saver
    def _save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.state_dict()), encoding="utf-8")

    @mark_as_loader
    def _load(self, path: str | Path, end_of_epoch: bool) -> None:
        if not end_of_epoch:
            self.load_state_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def sharded_training_batches(
    labeled_shards: str | None,
    unlabeled_shards: str | None,
    supervision: str,
    sample_rate: int,
    clip_len: int,
    num_views: int,
    epoch_seed: EpochSeed,
    output_folder: str | Path,
    batch_size: int,
    labeled_share: float,
    labeled_data_fraction: float = 1.0,
    seed: int = 0,
    label_names_file: str | Path | None = None,
    shuffle_buffer: int = 64,
    rank: int = 0,
    world_size: int = 1,
) -> ShardedViewBatches:
    """The training stream of a pretraining run whose pools are shards (the yaml's
    ``labeled_shards`` / ``unlabeled_shards``): the vocabulary and the ``p_s`` draw come
    from the shard indexes and are recorded in ``output_folder`` like manifest runs;
    ``rank`` of ``world_size`` processes reads its own shards."""
    from semisupcon_recipe.sampling import select_labeled_subset

    output_folder = Path(output_folder)
    labeled_ids, cells = [], []
    if labeled_shards:
        for shard in ShardPool.load(labeled_shards, sample_rate).shards:
            pairs = [(i, cell) for i, cell in zip(shard["ids"], shard["labels"]) if cell]
            labeled_ids += [i for i, _ in pairs]
            cells += [cell for _, cell in pairs]
    names = Path(label_names_file).read_text(encoding="utf-8").split("\n") if label_names_file else None
    vocabulary = LabelVocabulary.load_or_build(
        output_folder / "label_vocabulary.json", supervision, cells,
        names=[name.strip() for name in names if name.strip()] if names else None,
    )
    for item_id, cell in zip(labeled_ids, cells):
        vocabulary.encode(cell, where=f"{labeled_shards}, ID {item_id}")
    kept = set(select_labeled_subset(labeled_ids, labeled_data_fraction, seed, output_folder / "labeled_subset.txt"))
    logger.info("sharded pretraining data: %d labeled clips kept (p_s=%.3f of %d)", len(kept), labeled_data_fraction, len(labeled_ids))
    return ShardedViewBatches(
        labeled_shards, unlabeled_shards, sample_rate, clip_len, num_views, vocabulary, kept,
        batch_size, labeled_share, epoch_seed, shuffle_buffer, rank, world_size,
    )


@register_checkpoint_hooks
class ShardLoader(torch.utils.data.DataLoader):
    """The training loader of a sharded run: batches of a :class:`ShardedViewBatches`,
    read in the training process, checkpointed with it (``dataloader-TRAIN``)."""

    def __init__(self, batches: ShardedViewBatches, pin_memory: bool = False) -> None:
        super().__init__(batches, batch_size=None, num_workers=0, pin_memory=pin_memory)

    @mark_as_saver
    def _save(self, path: str | Path) -> None:
        self.dataset._save(path)

    @mark_as_loader
    def _load(self, path: str | Path, end_of_epoch: bool) -> None:
        self.dataset._load(path, end_of_epoch)


def shard_loader(hparams: dict, rank: int = 0, world_size: int = 1) -> ShardLoader:
    """The training loader of a recipe yaml with ``labeled_shards`` / ``unlabeled_shards``
    for process ``rank`` of ``world_size``."""
    if hparams.get("labeled_manifest") or hparams.get("unlabeled_manifest"):
        raise ValueError(
            "the yaml gives both training manifests and training shards; pass --labeled_manifest=null "
            "--unlabeled_manifest=null to train from the shards, or drop the shards"
        )
    batches = sharded_training_batches(
        labeled_shards=hparams["labeled_shards"],
        unlabeled_shards=hparams["unlabeled_shards"],
        supervision=hparams["supervision"],
        sample_rate=hparams["sample_rate"],
        clip_len=hparams["clip_len"],
        num_views=hparams["num_views"],
        epoch_seed=hparams["train_epoch_seed"],
        output_folder=hparams["output_folder"],
        batch_size=hparams["batch_size"],
        labeled_share=hparams["labeled_share"],
        labeled_data_fraction=hparams["labeled_data_fraction"],
        seed=hparams["seed"],
        label_names_file=hparams.get("label_names_file"),
        shuffle_buffer=hparams["shuffle_buffer"],
        rank=rank,
        world_size=world_size,
    )
    return ShardLoader(batches, pin_memory=hparams["pin_memory"])
