"""A one-time audio cache: every file of a manifest decoded, down-mixed and resampled once.

``semisupcon cache MANIFEST... --out DIR --sample-rate R`` writes each file as a
memory-mappable ``.npy`` array at ``R`` (int16; float32 for the rare file whose
samples exceed full scale, so nothing is clipped) under ``DIR/audio/``, and for each
input manifest a manifest ``DIR/<name>.csv`` with the same IDs, labels and columns
whose ``wav`` points into the cache. A view of a cached file costs a few pages of
disk, no decoding and no resampling; :class:`~semisupcon_recipe.views.ViewReader`
reads such paths directly, and gives the views on-the-fly decoding gives (same length
at ``R``, so the same crops; samples equal up to resampling edges and int16 rounding).

The step is resumable (files already cached are kept), parallel over processes, and
skips and counts files that cannot be read (listed in ``DIR/skipped.txt``).
``DIR/cache.json`` records the rate: a rerun or a reader at another rate is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from semisupcon_recipe.cli_options import positive_int
from semisupcon_recipe.files import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

CACHE_SUFFIX = ".npy"
INFO_FILE = "cache.json"
INT16_SCALE = 32768.0
_RATES: dict[str, int] = {}


class CacheRateError(ValueError):
    """A cache made at one rate is used at another."""


def cache_rate(cache_dir: str | Path) -> int:
    """Sample rate recorded in ``cache_dir/cache.json`` (remembered per process).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = (Path(folder) / INFO_FILE).write_text('{"sample_rate": 22050}')
    >>> cache_rate(folder)
    22050
    """
    key = str(cache_dir)
    if key not in _RATES:
        info = Path(cache_dir) / INFO_FILE
        if not info.is_file():
            raise CacheRateError(f"{info} is missing: {cache_dir} is not an audio cache; run `semisupcon cache` again")
        _RATES[key] = int(json.loads(info.read_text(encoding="utf-8"))["sample_rate"])
    return _RATES[key]


def is_cached(path: str) -> bool:
    """True when ``path`` is a file of an audio cache (``<cache>/audio/<name>.npy``)."""
    return path.endswith(CACHE_SUFFIX) and Path(path).parent.name == "audio"


def open_cached(path: str, sample_rate: int) -> np.ndarray:
    """Memory-map a cached file ``(T,)`` (int16 or float32); refuse a cache made at another rate.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / INFO_FILE).write_text('{"sample_rate": 16000}'); (folder / "audio").mkdir()
    >>> np.save(folder / "audio" / "a.npy", np.zeros(10, dtype=np.int16))
    >>> open_cached(str(folder / "audio" / "a.npy"), 16000).shape
    (10,)
    >>> open_cached(str(folder / "audio" / "a.npy"), 22050)
    Traceback (most recent call last):
    ...
    semisupcon_recipe.audio_cache.CacheRateError: ... was cached at 16000 Hz but this run reads 22050 Hz; ...
    """
    rate = cache_rate(Path(path).parent.parent)
    if rate != sample_rate:
        raise CacheRateError(
            f"{path} was cached at {rate} Hz but this run reads {sample_rate} Hz; "
            f"cache the manifest again with --sample-rate {sample_rate} (into another folder)"
        )
    return np.load(path, mmap_mode="r")


def as_float(samples: np.ndarray) -> np.ndarray:
    """Cached samples (int16 or float32, any shape) as float32 in the audio's scale."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / INT16_SCALE
    return np.asarray(samples, dtype=np.float32)


def cached_name(item_id: str) -> str:
    """File name of an ID in the cache: readable prefix + hash (IDs may hold '/' or spaces).

    Example
    -------
    >>> cached_name("rock/track 01")
    'rock_track_01-c8307ba7ee.npy'
    """
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", item_id)[:60]
    return f"{readable}-{hashlib.sha1(item_id.encode('utf-8')).hexdigest()[:10]}{CACHE_SUFFIX}"


def encode_samples(waveform: np.ndarray) -> np.ndarray:
    """int16 when the audio fits full scale, else float32 (never clipped)."""
    if waveform.size and float(np.abs(waveform).max()) > (INT16_SCALE - 1) / INT16_SCALE:
        return waveform.astype(np.float32)
    return np.round(waveform * INT16_SCALE).astype(np.int16)


def cache_one(source: str, target: str, sample_rate: int) -> tuple[str, str | None]:
    """Decode ``source`` at ``sample_rate`` into ``target`` (atomic). Returns ``(target, error)``.

    The cached file has exactly ``frames * sample_rate // source_rate`` samples, the
    length on-the-fly reading assumes, so both draw the same crops.
    """
    import torch

    from semisupcon_recipe.audio import AudioError, audio_info, read_audio

    torch.set_num_threads(1)
    try:
        frames, source_rate = audio_info(source)
        length = frames * sample_rate // source_rate
        waveform = read_audio(source, sample_rate).numpy()[:length]  # (T,)
        waveform = np.pad(waveform, (0, length - len(waveform)))
    except AudioError as error:
        return target, str(error)
    with atomic_path(target) as temporary, open(temporary, "wb") as stream:
        np.save(stream, encode_samples(waveform))
    return target, None


def prepare_folder(out: Path, sample_rate: int) -> None:
    """Create the cache folder, or check that an existing one was made at ``sample_rate``."""
    info = out / INFO_FILE
    if info.is_file():
        recorded = int(json.loads(info.read_text(encoding="utf-8"))["sample_rate"])
        if recorded != sample_rate:
            raise CacheRateError(
                f"{out} holds a cache at {recorded} Hz; refusing to add files at {sample_rate} Hz: "
                "use another --out folder"
            )
    (out / "audio").mkdir(parents=True, exist_ok=True)
    atomic_write_text(info, json.dumps({"sample_rate": sample_rate, "format": "npy int16 (float32 above full scale)"}))


def cache_manifests(
    manifests: list[str | Path],
    out: str | Path,
    sample_rate: int,
    workers: int = 1,
    replacements: dict | None = None,
) -> dict:
    """Cache every file of ``manifests`` into ``out``; returns counts and the new manifests.

    Parameters
    ----------
    manifests : list of str or Path
        SpeechBrain CSVs (ID, duration, wav, labels, any other column).
    out : str or Path
        Cache folder (created; resumed when it exists at the same rate).
    sample_rate : int
        Training rate the audio is stored at.
    workers : int
        Processes decoding in parallel.
    replacements : dict, optional
        ``$name`` replacements of the manifests (e.g. ``{"data_root": ...}``).

    Returns
    -------
    dict
        ``cached`` (newly written), ``reused`` (already there), ``skipped`` (unreadable),
        ``manifests`` (paths of the written manifests).

    Example
    -------
    >>> import tempfile, soundfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> soundfile.write(folder / "a.wav", np.zeros((44100, 2), dtype="float32"), 44100)
    >>> _ = (folder / "m.csv").write_text(f"ID,duration,wav,labels\\na,1.0,{folder}/a.wav,rock\\n")
    >>> report = cache_manifests([folder / "m.csv"], folder / "cache", 22050)
    >>> report["cached"], report["skipped"], np.load(folder / "cache" / "audio" / cached_name("a")).shape
    (1, 0, (22050,))
    """
    from semisupcon_recipe.manifest import read_manifest, write_manifest

    out = Path(out)
    prepare_folder(out, sample_rate)
    tables = {Path(manifest): read_manifest(manifest, replacements) for manifest in manifests}
    jobs = {}
    for rows in tables.values():
        for item_id, row in rows.items():
            target = str((out / "audio" / cached_name(item_id)).resolve())
            jobs.setdefault(target, row["wav"])
    todo = {target: source for target, source in jobs.items() if not Path(target).is_file()}
    errors: dict[str, str] = {}
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            results = pool.map(cache_one, list(todo.values()), list(todo), [sample_rate] * len(todo), chunksize=8)
            for target, error in results:
                if error is not None:
                    errors[target] = error
                    logger.warning("skipping %s", error)
    written = []
    for manifest, rows in tables.items():
        kept = []
        for item_id, row in rows.items():
            target = str((out / "audio" / cached_name(item_id)).resolve())
            if target in errors:
                continue
            length = len(np.load(target, mmap_mode="r"))
            kept.append({**row, "ID": item_id, "duration": round(length / sample_rate, 6), "wav": target})
        path = out / manifest.name
        write_manifest(path, kept)
        written.append(str(path))
    (out / "skipped.txt").write_text("".join(f"{error}\n" for error in errors.values()), encoding="utf-8")
    report = {
        "cached": len(todo) - len(errors),
        "reused": len(jobs) - len(todo),
        "skipped": len(errors),
        "manifests": written,
    }
    logger.info("audio cache %s: %s", out, report)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``semisupcon cache``."""
    parser.add_argument("manifests", nargs="+", help="SpeechBrain CSV manifests (ID,duration,wav,labels)")
    parser.add_argument("--out", required=True, help="cache folder (resumed when it exists)")
    parser.add_argument("--sample-rate", type=positive_int, required=True, help="the training rate, e.g. 22050")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, help="decoding processes")
    parser.add_argument("--data-root", default=None, help="replaces $data_root in the manifests")
    parser.add_argument("--clips-per-shard", type=positive_int, default=None,
                        help="write WebDataset tar shards of this many clips (OUT/<manifest name>/) instead of "
                        "one file per clip, for pools too large to list per file")


def main(args: argparse.Namespace) -> int:
    """Run ``semisupcon cache``: 0 when files were cached, 1 when every file failed (errors: :mod:`semisupcon_recipe.cli_options`)."""
    replacements = {"data_root": args.data_root} if args.data_root else None
    if args.clips_per_shard is not None:
        return _write_shard_sets(args, replacements)
    report = cache_manifests(args.manifests, args.out, args.sample_rate, args.workers, replacements)
    print(
        f"cached {report['cached']} file(s), reused {report['reused']}, skipped {report['skipped']} unreadable "
        f"(listed in {Path(args.out) / 'skipped.txt'}); manifests: {', '.join(report['manifests'])}"
    )
    return 1 if report["skipped"] and not (report["cached"] + report["reused"]) else 0


def _write_shard_sets(args: argparse.Namespace, replacements: dict | None) -> int:
    from semisupcon_recipe.manifest import read_manifest
    from semisupcon_recipe.shards import write_shards

    usable = 0
    for manifest in args.manifests:
        folder = Path(args.out) / Path(manifest).stem
        report = write_shards(read_manifest(manifest, replacements), folder, args.sample_rate, args.clips_per_shard, args.workers)
        usable += report["written"] + report["reused"]
        print(
            f"{folder}: wrote {report['written']} clip(s), reused {report['reused']}, skipped {report['skipped']} "
            f"unreadable (listed in {folder / 'shards.json'}), {report['shards']} shard(s)"
        )
    return 0 if usable else 1
