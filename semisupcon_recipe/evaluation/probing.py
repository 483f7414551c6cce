"""Probing encoders on tasks: features of a task's manifests, probe runs, ``semisupcon evaluate``.

:func:`evaluate_encoder` probes one encoder on every task of a tasks file
(:mod:`semisupcon_recipe.evaluation.tasks`) and writes ``results.json`` and
``results.md`` (:mod:`semisupcon_recipe.evaluation.report`); :func:`probe_task` is the
one probing path of a task, used by the command, the robustness sweep
(:mod:`semisupcon_recipe.evaluation.robustness`) and the probe recipe. Each manifest is
read once per task (:func:`read_task_manifests`); its features come from the cache of
:mod:`semisupcon_recipe.features`; the heads are trained by
:func:`semisupcon_recipe.probe_protocols.run_protocol`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from semisupcon_recipe.cli_options import default_device
from semisupcon_recipe.evaluation.report import results_markdown, summarize_runs
from semisupcon_recipe.evaluation.tasks import ProbeSettings, ProbeTask, check_manifests_exist, load_tasks_file

if TYPE_CHECKING:
    from semisupcon_recipe.checkpoints import LoadedEncoder
    from semisupcon_recipe.chunking import CorruptionSpec
    from semisupcon_recipe.probe_data import ProbeData

logger = logging.getLogger(__name__)


def probe_task(
    encoder: LoadedEncoder,
    task: ProbeTask,
    settings: ProbeSettings,
    runs_folder: str | Path,
    cache_root: str | Path,
    device: str,
    corruption: CorruptionSpec | None = None,
    heads: Sequence[str] | None = None,
    extra_results: Mapping[str, object] | None = None,
) -> dict[str, list[dict]]:
    """Train and test every (head, seed) probe of one task on one encoder's features.

    Parameters
    ----------
    encoder : LoadedEncoder
        From :func:`semisupcon_recipe.checkpoints.load_encoder_from_checkpoint`.
    task : ProbeTask
        The task.
    settings : ProbeSettings
        Protocol, chunking, heads, seeds.
    runs_folder : str or Path
        Runs go to ``<runs_folder>/<head>/seed_<seed>/``.
    cache_root : str or Path
        Feature cache.
    device : str
        Where the encoder and the heads run.
    corruption : CorruptionSpec, optional
        Applied to the train, valid and test audio.
    heads : sequence of str, optional
        Subset of ``settings.heads`` (all by default).
    extra_results : mapping, optional
        Added to every run's ``results.json``.

    Returns
    -------
    dict
        Head name -> the results of its runs (one per seed).
    """
    data, chunk_len = task_data(encoder, task, settings, cache_root, device, corruption)
    return probe_data(data, task, settings, runs_folder, device, heads,
                      extra_results={"chunk_len": chunk_len, **dict(extra_results or {})})


def task_data(
    encoder: LoadedEncoder,
    task: ProbeTask,
    settings: ProbeSettings,
    cache_root: str | Path,
    device: str,
    corruption: CorruptionSpec | None = None,
) -> tuple[ProbeData, int]:
    """Cached chunk features of a task's three manifests as probe datasets, and the chunk length.

    ``settings.features["chunk_len"]`` null means the encoder's clip length. The
    manifests are read once per task (:meth:`ProbeTask.manifest_rows`).
    """
    from semisupcon_recipe.features import FeatureCache
    from semisupcon_recipe.probe_data import SPLITS, probe_datasets

    chunk_len = settings.features["chunk_len"] or encoder.clip_len
    extraction = {"batch_size": settings.features["extract_batch_size"],
                  "num_workers": settings.features["num_workers"], "device": device}
    features = {
        split: FeatureCache(
            encoder.module,
            task.manifests[split],
            cache_root,
            chunk_len=chunk_len,
            max_chunks=settings.features["max_chunks"],
            corruption=corruption,
            shard_size=settings.features["shard_size"],
            rows=task.manifest_rows()[split],
        ).embeddings(**extraction)
        for split in SPLITS
    }
    return probe_datasets(task.kind, features, task.manifests, task.replacements, task.manifest_rows()), chunk_len


def probe_data(
    data: ProbeData,
    task: ProbeTask,
    settings: ProbeSettings,
    runs_folder: str | Path,
    device: str,
    heads: Sequence[str] | None = None,
    extra_results: Mapping[str, object] | None = None,
) -> dict[str, list[dict]]:
    """Train and test every (head, seed) probe of one task on features already in memory.

    The protocol is ``settings.training["protocol"]``
    (:func:`semisupcon_recipe.probe_protocols.run_protocol`); runs go to
    ``<runs_folder>/<head>/seed_<seed>/``. Returns head name -> results per seed.
    """
    from semisupcon_recipe.probe_protocols import run_protocol

    results: dict[str, list[dict]] = {}
    for head_name in heads or list(settings.heads):
        results[head_name] = [
            run_protocol(
                data,
                head_factory=settings.heads[head_name],
                training=settings.training,
                select_on=task.select_on,
                seed=seed,
                output_folder=Path(runs_folder) / head_name / f"seed_{seed}",
                task_name=task.name,
                device=device,
                extra_results={"head_name": head_name, **dict(extra_results or {})},
            )
            for seed in settings.seeds
        ]
    return results


def evaluate_encoder(
    checkpoint: str | Path,
    tasks_file: str | Path,
    out: str | Path,
    encoder_spec: str | Path | None = None,
    cache: str | Path | None = None,
    device: str | None = None,
    command: str = "",
    trust_code: bool = False,
) -> dict:
    """Probe one encoder on every task of a tasks file; write ``results.json`` and ``results.md``.

    Parameters
    ----------
    checkpoint : str or Path
        Export folder or pretraining checkpoint (see :mod:`semisupcon_recipe.evaluation.command`).
    tasks_file : str or Path
        Tasks, heads, seeds and protocol.
    out : str or Path
        Output folder.
    encoder_spec : str or Path, optional
        ``encoder_spec.yaml`` when it is not next to the checkpoint.
    cache : str or Path, optional
        Feature cache (default ``<out>/features``).
    device : str, optional
        Default: CUDA when available.
    command : str
        The command line, recorded in the results.
    trust_code : bool
        Build an encoder class outside the allow-list (see :mod:`semisupcon_recipe.encoder_spec`).

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
    from semisupcon_recipe.files import write_json

    out = Path(out)
    settings, tasks = load_tasks_file(tasks_file)
    check_manifests_exist(tasks, tasks_file)
    encoder = load_encoder_from_checkpoint(checkpoint, encoder_spec, trust_code)
    device = device or default_device()
    results = {
        "command": command,
        "encoder": {"checkpoint": str(checkpoint), "weights": str(encoder.weights), "spec": str(encoder.spec)},
        "tasks_file": str(tasks_file),
        "protocol": settings.training["protocol"],
        "seeds": settings.seeds,
        "tasks": [],
    }
    for task in tasks:
        logger.info("evaluating %s on %s", checkpoint, task.name)
        runs = probe_task(encoder, task, settings, out / "runs" / task.name, feature_cache_root(out, cache), device,
                          extra_results={"encoder": str(encoder.weights)})
        results["tasks"].append({
            "name": task.name,
            "kind": task.kind,
            "select_on": task.select_on,
            "manifests": task.manifests,
            "heads": {head: {**summarize_runs(head_runs), "runs": head_runs} for head, head_runs in runs.items()},
        })
    write_json(out / "results.json", results)
    (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    return results


def feature_cache_root(out: str | Path, cache: str | Path | None) -> Path:
    """The feature cache folder of a command: ``cache`` if given, else ``<out>/features``.

    Example
    -------
    >>> str(feature_cache_root("results", None)), str(feature_cache_root("results", "/shared/cache"))
    ('results/features', '/shared/cache')
    """
    return Path(cache) if cache else Path(out) / "features"
