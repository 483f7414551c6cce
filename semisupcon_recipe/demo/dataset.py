"""The demo's labeled music dataset: synthesized once, written as manifests, cached.

:func:`generate_dataset` fills ``folder`` with::

    dataset.json                 parameters, generator version, audio hash; written last,
                                 so its presence means the folder is complete
    audio/<ID>.wav               16-bit PCM mono clips
    pretrain.csv                 every pretraining clip, ``labels`` empty (unlabeled pool)
    labeled_<type>.csv           the labeled pool: a seeded ``labeled_fraction`` of the
                                 pretraining clips with their ``<type>`` label, drawn by
                                 :func:`~semisupcon_recipe.sampling.select_labeled_subset`
                                 as in every recipe
    probe_<type>_<split>.csv     probe splits train/valid/test for each label type
    metadata.csv                 every clip with all its labels and nuisance values

Label types (:data:`LABEL_TYPES`): ``key`` (24 classes, ``"C major"`` ... as
``mir_eval.key`` spells them), ``mode`` (major/minor), ``instruments`` (multi-label
families joined with ``;``), ``tempo`` (slow/medium/fast) and, only when the config
draws styles (``SynthConfig(styles=...)``), ``style`` (one of the config's styles).

The labeled clips are also in ``pretrain.csv``: SSL-only and SemiSupCon train on the
same audio, SemiSupCon additionally sees the labels of the labeled pool. The labeled
pool already is the drawn fraction p_s of METHOD.md section 4, so train on it with
p_s = 1 (or generate with ``labeled_fraction=1`` and let the sampler draw p_s). Probe
clips come from three separate seed streams: they are disjoint from the pretraining
clips and from each other, and every label type's probe splits share the same clips.

Caching: calling again with the same parameters returns at once without touching a
file. Different parameters for a folder that already holds a dataset raise
:class:`DatasetCacheError` (pass another folder, or delete it). Every file is
written to a temporary name and renamed, and ``dataset.json`` comes last, so an
interrupted run is simply generated again. Manifests hold absolute ``wav`` paths; if
the folder was moved, they are rewritten (the audio is kept).
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import soundfile
from tqdm import tqdm

from semisupcon_recipe.cli_options import UsageError
from semisupcon_recipe.demo.synth import SynthConfig, synthesize_clip
from semisupcon_recipe.files import atomic_path, atomic_write_text
from semisupcon_recipe.manifest import SPLITS, read_manifest, write_manifest
from semisupcon_recipe.sampling import select_labeled_subset
from semisupcon_recipe.settings_record import describe_differences

GENERATOR_VERSION = 2  # 2: the labeled pool is drawn by sampling.select_labeled_subset
LABEL_TYPES: dict[str, str] = {
    "key": "multiclass", "mode": "multiclass", "instruments": "multilabel", "tempo": "multiclass", "style": "multiclass",
}
# Seed streams: each pool is its own family of clips, so pools never share a clip and
# growing one pool leaves the clips of the others unchanged.
POOL_STREAMS = {"pretrain": 0, "probe_train": 1, "probe_valid": 2, "probe_test": 3}
PCM_SCALE = 32767
RECORD_NAME = "dataset.json"
PRODUCTION_COLUMNS = ("peak_level_db", "room_size", "reverb_wet", "hiss_snr_db", "hum_hz")


class DatasetCacheError(UsageError):
    """A dataset folder holds a dataset made with other parameters; names the fix (exit status 2)."""


def generate_dataset(
    folder: str | Path,
    num_clips: int = 2000,
    clip_seconds: float = 3.0,
    sample_rate: int = 16000,
    seed: int = 0,
    labeled_fraction: float = 0.05,
    probe_clips: Sequence[int] = (480, 120, 240),
    label_types: Sequence[str] | None = None,
    config: SynthConfig | None = None,
    num_workers: int = 1,
    progress: bool = False,
) -> dict[str, Path]:
    """Generate (or reuse) the demo dataset in ``folder`` and return its manifests.

    Parameters
    ----------
    folder : str or Path
        Where the dataset lives (created if needed).
    num_clips : int
        Size of the pretraining pool.
    clip_seconds : float
        Length of every clip.
    sample_rate : int
        Audio rate in Hz.
    seed : int
        Everything is deterministic from it.
    labeled_fraction : float
        Fraction of the pretraining clips in the labeled pool (at least one clip
        when positive).
    probe_clips : (int, int, int)
        Number of probe clips in train, valid and test.
    label_types : sequence of str, optional
        Which of :data:`LABEL_TYPES` get labeled and probe manifests (default: all that
        the config draws; ``style`` only with ``config.styles``).
    config : SynthConfig, optional
        What varies between clips (defaults: :class:`SynthConfig`).
    num_workers : int
        Processes synthesizing in parallel (the output does not depend on it).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict of str to Path
        ``"pretrain"``, ``"labeled_<type>"``, ``"probe_<type>_<split>"`` and
        ``"metadata"`` manifest paths.

    Raises
    ------
    DatasetCacheError
        ``folder`` already holds a dataset generated with other parameters.
    ValueError
        A size, fraction or label type is out of range.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> paths = generate_dataset(folder, num_clips=4, clip_seconds=0.5, probe_clips=(2, 1, 1),
    ...                          labeled_fraction=0.5, label_types=("key",))
    >>> sorted(paths)
    ['labeled_key', 'metadata', 'pretrain', 'probe_key_test', 'probe_key_train', 'probe_key_valid']
    >>> len(read_manifest(paths["labeled_key"])), len(read_manifest(paths["pretrain"]))
    (2, 4)
    >>> generate_dataset(folder, num_clips=4, clip_seconds=0.5, probe_clips=(2, 1, 1),
    ...                  labeled_fraction=0.5, label_types=("key",)) == paths
    True
    """
    config = config or SynthConfig()
    if label_types is None:
        label_types = [name for name in LABEL_TYPES if name != "style" or config.styles]
    if "style" in label_types and not config.styles:
        raise ValueError("label_types has 'style' but the config draws no style: pass config=SynthConfig(styles=...)")
    params = _parameters(num_clips, clip_seconds, sample_rate, seed, labeled_fraction, probe_clips, label_types, config)
    folder = Path(folder).resolve()
    paths = _manifest_paths(folder, params["label_types"])
    record_path = folder / RECORD_NAME
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("params") != params:
            raise DatasetCacheError(_mismatch_message(folder, record.get("params", {}), params))
        if all(path.is_file() for path in paths.values()):
            if record.get("folder") != str(folder):
                _write_manifests(folder, _read_metadata_rows(paths["metadata"], folder), params)
                atomic_write_text(record_path, json.dumps({**record, "folder": str(folder)}, indent=1))
            return paths
        record_path.unlink()

    audio_folder = folder / "audio"
    audio_folder.mkdir(parents=True, exist_ok=True)
    for leftover in audio_folder.glob(".*.tmp"):
        leftover.unlink()
    tasks = [
        (str(audio_folder), f"{pool}_{index:05d}", pool, seed, POOL_STREAMS[pool], index, clip_seconds, sample_rate, config)
        for pool, count in _pool_sizes(num_clips, probe_clips).items()
        for index in range(count)
    ]
    with tqdm(total=len(tasks), desc="demo clips", disable=not progress) as bar:
        if num_workers > 1:
            with ProcessPoolExecutor(max_workers=num_workers) as pool:
                results = list(_ticking(pool.map(_make_clip, tasks, chunksize=16), bar))
        else:
            results = list(_ticking(map(_make_clip, tasks), bar))
    rows = [row for row, _ in results]
    _write_manifests(folder, rows, params)
    audio_hash = hashlib.sha256("".join(digest for _, digest in results).encode()).hexdigest()
    record = {
        "params": params,
        "folder": str(folder),
        "audio_sha256": audio_hash,
        "label_kinds": {name: LABEL_TYPES[name] for name in params["label_types"]},
        "manifests": {name: path.name for name, path in paths.items()},
    }
    atomic_write_text(record_path, json.dumps(record, indent=1))
    return paths


def dataset_record(folder: str | Path) -> dict:
    """The ``dataset.json`` of a complete dataset folder (parameters, hash, label kinds).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = generate_dataset(folder, num_clips=2, clip_seconds=0.5, probe_clips=(1, 1, 1),
    ...                      label_types=("instruments",))
    >>> dataset_record(folder)["label_kinds"]
    {'instruments': 'multilabel'}
    """
    path = Path(folder) / RECORD_NAME
    if not path.is_file():
        raise DatasetCacheError(f"{path} does not exist: {folder} holds no complete demo dataset; run generate_dataset first")
    return json.loads(path.read_text())


def _parameters(num_clips, clip_seconds, sample_rate, seed, labeled_fraction, probe_clips, label_types, config) -> dict:
    probe_clips = [int(count) for count in probe_clips]
    if int(num_clips) < 1:
        raise ValueError(f"num_clips={num_clips} must be at least 1")
    if not clip_seconds > 0 or int(sample_rate) < 1:
        raise ValueError(f"clip_seconds={clip_seconds} and sample_rate={sample_rate} must be positive")
    if not 0.0 <= labeled_fraction <= 1.0:
        raise ValueError(f"labeled_fraction={labeled_fraction} must lie in [0, 1]")
    if len(probe_clips) != len(SPLITS) or min(probe_clips) < 1:
        raise ValueError(f"probe_clips={probe_clips} needs one positive count per split {SPLITS}")
    unknown = [name for name in label_types if name not in LABEL_TYPES]
    if unknown or not label_types:
        raise ValueError(f"label_types={list(label_types)}: choose one or more of {tuple(LABEL_TYPES)}")
    params = {
        "generator_version": GENERATOR_VERSION,
        "num_clips": int(num_clips),
        "clip_seconds": float(clip_seconds),
        "sample_rate": int(sample_rate),
        "seed": int(seed),
        "labeled_fraction": float(labeled_fraction),
        "probe_clips": probe_clips,
        "label_types": [name for name in LABEL_TYPES if name in label_types],
        "config": asdict(config),
    }
    return json.loads(json.dumps(params))


def _mismatch_message(folder: Path, found: Mapping, wanted: Mapping) -> str:
    details = describe_differences(found, wanted)
    return (
        f"{folder} already holds a demo dataset generated with other parameters ({details}); "
        f"pass another folder, or delete {folder} to regenerate it"
    )


def _pool_sizes(num_clips: int, probe_clips: Sequence[int]) -> dict[str, int]:
    sizes = {"pretrain": num_clips}
    sizes.update({f"probe_{split}": count for split, count in zip(SPLITS, probe_clips)})
    return sizes


def _manifest_paths(folder: Path, label_types: Iterable[str]) -> dict[str, Path]:
    paths = {"pretrain": folder / "pretrain.csv"}
    for name in label_types:
        paths[f"labeled_{name}"] = folder / f"labeled_{name}.csv"
        for split in SPLITS:
            paths[f"probe_{name}_{split}"] = folder / f"probe_{name}_{split}.csv"
    paths["metadata"] = folder / "metadata.csv"
    return paths


def _ticking(results: Iterable, bar: tqdm) -> Iterable:
    for result in results:
        bar.update()
        yield result


def _make_clip(task: tuple) -> tuple[dict, str]:
    """Synthesize one clip, write its wav atomically; return its metadata row and hash."""
    audio_folder, clip_id, pool, seed, stream, index, seconds, sample_rate, config = task
    clip = synthesize_clip(seed, index, seconds, sample_rate, config, stream=stream)
    pcm = np.round(clip.audio * PCM_SCALE).astype(np.int16)  # (T,)
    path = Path(audio_folder) / f"{clip_id}.wav"
    with atomic_path(path) as temporary:
        soundfile.write(temporary, pcm, sample_rate, subtype="PCM_16", format="WAV")
    values = {"tempo_bpm": round(clip.phrase.tempo_bpm, 2), "register_shift": clip.phrase.register_shift}
    values.update({name: round(clip.production[name], 3) for name in PRODUCTION_COLUMNS})
    row = {"ID": clip_id, "duration": pcm.size / sample_rate, "wav": str(path), "labels": "", "pool": pool}
    row.update(clip.labels)
    row.update(values)
    return row, hashlib.sha256(pcm.tobytes()).hexdigest()


def _read_metadata_rows(path: Path, folder: Path) -> list[dict]:
    rows = []
    for clip_id, row in read_manifest(path).items():
        rows.append({"ID": clip_id, **{key: value for key, value in row.items() if key != "ID"}, "wav": str(folder / "audio" / f"{clip_id}.wav")})
    return rows


def _write_manifests(folder: Path, rows: list[dict], params: Mapping) -> None:
    paths = _manifest_paths(folder, params["label_types"])
    by_pool: dict[str, list[dict]] = {}
    for row in rows:
        by_pool.setdefault(row["pool"], []).append(row)
    pretrain = by_pool["pretrain"]
    kept = set(select_labeled_subset([row["ID"] for row in pretrain], params["labeled_fraction"], params["seed"]))
    labeled = [row for row in pretrain if row["ID"] in kept]  # the p_s draw of every recipe

    def rows_with(items: list[dict], label_type: str | None) -> list[dict]:
        return [
            {"ID": row["ID"], "duration": row["duration"], "wav": row["wav"], "labels": row[label_type] if label_type else ""}
            for row in items
        ]

    _write_manifest_atomically(paths["pretrain"], rows_with(pretrain, None))
    for name in params["label_types"]:
        _write_manifest_atomically(paths[f"labeled_{name}"], rows_with(labeled, name))
        for split in SPLITS:
            _write_manifest_atomically(paths[f"probe_{name}_{split}"], rows_with(by_pool[f"probe_{split}"], name))
    _write_manifest_atomically(paths["metadata"], rows)


def _write_manifest_atomically(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as temporary:
        write_manifest(temporary, rows)
