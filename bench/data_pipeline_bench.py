"""Clips/s per core of the pretraining data pipeline from 44.1 kHz mp3 sources.

Four ways to get batches of paper-sized views (2 adjacent views of 59,049 samples at
22,050 Hz, 32 clips per batch) from the same generated 44.1 kHz stereo mp3 files, one
after the other in one process on one thread (what one data-loader worker does):

- ``on the fly, before``: the pipeline's path before this benchmark's changes (decode the
  segment, numpy ``mean(axis=1)`` down-mix, torchaudio's polyphase resampler with cached
  kernels), reproduced in this script as the baseline;
- ``on the fly, now``: :func:`semisupcon_recipe.audio.read_audio` (matrix-vector down-mix, soxr);
- ``cache``: views from ``semisupcon cache`` (memory-mapped int16 at 22,050 Hz);
- ``shards``: batches from ``semisupcon cache --clips_per_shard`` (WebDataset tars).

A last row gives the rate of decoding the two-view mp3 segment alone (no down-mix, no
resampling, no batching): the ceiling of any on-the-fly path from these files.

Ratios are against the baseline measured in the same run. "cores per GPU" is the
README's measured training throughput (``--gpu_clips_per_s``, default 1025.3 clips/s:
paper SampleCNN, bf16, one H100, through SemiSupConBrain) over the per-core figure::

    python bench/data_pipeline_bench.py                  # 8 files of 30 s, 3 rounds of 64 clips per path
    python bench/data_pipeline_bench.py --files 16 --clips 256
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
from pedalboard.io import AudioFile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semisupcon_recipe import audio, views  # noqa: E402
from semisupcon_recipe.audio_cache import cache_manifests  # noqa: E402
from semisupcon_recipe.data import EpochSeed  # noqa: E402
from semisupcon_recipe.manifest import LabelVocabulary, read_manifest, write_manifest  # noqa: E402
from semisupcon_recipe.shards import ShardedViewBatches, write_shards  # noqa: E402
from semisupcon_recipe.views import ViewReader  # noqa: E402

RATE, CLIP_LEN, NUM_VIEWS, BATCH = 22050, 59049, 2, 32


@lru_cache(maxsize=16)
def _torchaudio_resampler(source_rate: int, target_rate: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(source_rate, target_rate)


def torchaudio_resample(waveform: torch.Tensor, source_rate: int, target_rate: int) -> torch.Tensor:
    """The resampler of the pipeline before soxr (cached torchaudio kernels)."""
    if source_rate == target_rate:
        return waveform
    return _torchaudio_resampler(int(source_rate), int(target_rate))(waveform)


def read_audio_before(path: str, sample_rate: int, offset: float = 0.0, duration: float | None = None) -> torch.Tensor:
    """``read_audio`` as it was before this benchmark's changes (the baseline): numpy
    ``mean(axis=1)`` down-mix, a separate finiteness pass, torchaudio resampling."""
    frames, source_rate = audio.audio_info(path)
    start = int(round(offset * source_rate))
    stop = frames if duration is None else min(frames, start + int(round(duration * source_rate)))
    data, source_rate = soundfile.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    waveform = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))  # (T,)
    if not torch.isfinite(waveform).all():
        raise audio.AudioError(f"{path} contains NaN or infinite samples")
    return torchaudio_resample(waveform, source_rate, sample_rate)


def write_sources(folder: Path, files: int, seconds: float) -> Path:
    """44.1 kHz stereo mp3 files of music-like partials; returns their manifest."""
    rng = np.random.default_rng(0)
    time_axis = np.arange(int(seconds * 44100)) / 44100
    rows = []
    for index in range(files):
        mono = sum(0.05 * np.sin(2 * np.pi * f * time_axis + rng.uniform(0, 6)) for f in rng.uniform(60, 10000, 16))
        stereo = np.stack([mono, 0.8 * mono + 0.01 * rng.normal(size=len(mono))], axis=1).astype("float32")
        path = folder / f"track{index}.mp3"
        soundfile.write(path, stereo, 44100)
        rows.append({"ID": f"track{index}", "duration": seconds, "wav": str(path), "labels": ""})
    write_manifest(folder / "sources.csv", rows)
    return folder / "sources.csv"


def per_file_rate(paths: list[str], clips: int) -> float:
    """Clips/s of ViewReader over ``paths`` (cycled), stacked into batches of BATCH."""
    reader, seed = ViewReader(RATE, CLIP_LEN, NUM_VIEWS), EpochSeed(0)
    start = time.perf_counter()
    batch = []
    for number in range(clips):
        seed.epoch = number // len(paths)
        path = paths[number % len(paths)]
        batch.append(reader.read(path, seed.rng(Path(path).stem)))
        if len(batch) == BATCH:
            torch.stack(batch)  # (B, N, L)
            batch = []
    return clips / (time.perf_counter() - start)


def stage_costs(source: str, repeats: int = 10) -> dict[str, float]:
    """Milliseconds per clip of decoding a two-view segment and of each resampler."""
    frames = int(NUM_VIEWS * CLIP_LEN * 44100 / RATE)
    start = time.perf_counter()
    for index in range(repeats):
        data, _ = soundfile.read(source, start=44100 + 997 * index, stop=44100 + 997 * index + frames, dtype="float32", always_2d=True)
    costs = {"mp3 segment decode": (time.perf_counter() - start) / repeats}
    start = time.perf_counter()
    for index in range(repeats):
        with AudioFile(source) as decoder:  # pedalboard's decoder, for comparison
            decoder.seek(44100 + 997 * index)
            decoder.read(frames)
    costs["mp3 segment decode (pedalboard)"] = (time.perf_counter() - start) / repeats
    mono = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))  # (T,)
    start = time.perf_counter()
    for _ in range(repeats):
        data.mean(axis=1)
    costs["down-mix before (mean)"] = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(repeats):
        data @ np.full(data.shape[1], 1.0 / data.shape[1], dtype=np.float32)
    costs["down-mix now (dot)"] = (time.perf_counter() - start) / repeats
    for label, resampler in (("torchaudio resample", torchaudio_resample), ("soxr resample", audio.resample)):
        start = time.perf_counter()
        for _ in range(repeats):
            resampler(mono, 44100, RATE)
        costs[label] = (time.perf_counter() - start) / repeats
    return {label: 1e3 * seconds for label, seconds in costs.items()}


def shard_rate(folder: Path, clips: int, files: int) -> float:
    """Clips/s of ShardedViewBatches (SSL batches, at most one pass per epoch) until ``clips`` clips were read."""
    seed, batch = EpochSeed(0), min(BATCH, files)
    stream = ShardedViewBatches(None, folder, RATE, CLIP_LEN, NUM_VIEWS, LabelVocabulary("multilabel", []), set(),
                                batch, 0.0, seed, shuffle_buffer=batch)
    start, read = time.perf_counter(), 0
    while read < clips:
        for batch in stream:
            read += len(batch.ids)
            if read >= clips:
                break
        seed.epoch += 1
    return read / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8, help="44.1 kHz stereo mp3 files")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each file")
    parser.add_argument("--clips", type=int, default=64, help="clips read per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median is reported)")
    parser.add_argument("--gpu_clips_per_s", type=float, default=1025.3,
                        help="training throughput to feed (README: paper SampleCNN, bf16, one H100)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        manifest = write_sources(folder, args.files, args.seconds)
        sources = [row["wav"] for row in read_manifest(manifest).values()]
        start = time.perf_counter()
        cached = cache_manifests([manifest], folder / "cache", RATE, workers=1)
        cache_seconds = time.perf_counter() - start
        start = time.perf_counter()
        write_shards(read_manifest(manifest), folder / "shards", RATE, clips_per_shard=4, workers=1)
        shard_seconds = time.perf_counter() - start

        cache_paths = [row["wav"] for row in read_manifest(cached["manifests"][0]).values()]
        read_audio_now = views.read_audio

        def before(clips: int) -> float:
            views.read_audio = read_audio_before
            try:
                return per_file_rate(sources, clips)
            finally:
                views.read_audio = read_audio_now

        paths = {
            "on the fly, before (torchaudio resampler)": before,
            "on the fly, now (soxr, fast down-mix)": lambda clips: per_file_rate(sources, clips),
            "cache (`semisupcon cache`, int16 .npy)": lambda clips: per_file_rate(cache_paths, clips),
            "WebDataset shards (`--clips_per_shard`)": lambda clips: shard_rate(folder / "shards", clips, args.files),
        }
        # Interleaved rounds, median per path: a loaded machine slows all paths alike.
        rounds = {label: [] for label in paths}
        for _ in range(args.rounds):
            for label, measure in paths.items():
                rounds[label].append(measure(args.clips))
        rates = {label: float(np.median(values)) for label, values in rounds.items()}
        costs = stage_costs(sources[0])
        baseline = rates["on the fly, before (torchaudio resampler)"]
    print(f"{args.files} x {args.seconds:.0f} s 44.1 kHz stereo mp3 -> {NUM_VIEWS} views x {CLIP_LEN} samples at "
          f"{RATE} Hz, batches of {BATCH}, one thread, median of {args.rounds} interleaved rounds; torch {torch.__version__}")
    print(f"one-time cost: cache {cache_seconds / args.files:.2f} s/file, shards {shard_seconds / args.files:.2f} s/file (one process)")
    print("per clip: " + ", ".join(f"{label} {ms:.1f} ms" for label, ms in costs.items()))
    print("| path | clips/s per core | x before | cores for one GPU at %.0f clips/s |" % args.gpu_clips_per_s)
    print("|---|---|---|---|")
    for label, rate in rates.items():
        print(f"| {label} | {rate:.1f} | {rate / baseline:.1f}x | {args.gpu_clips_per_s / rate:.1f} |")
    # Decoding the two-view segment is the part no resampler or down-mix can remove: it
    # bounds every on-the-fly path from these files (libsndfile's mpg123 decoder).
    decode_bound = 1e3 / costs["mp3 segment decode"]
    print(f"| bound of any on-the-fly path: mp3 segment decode alone | {decode_bound:.1f} | "
          f"{decode_bound / baseline:.1f}x | {args.gpu_clips_per_s / decode_bound:.1f} |")


if __name__ == "__main__":
    main()
