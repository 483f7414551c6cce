"""The robustness sweep of ``semisupcon robustness``: probe scores under corruptions of rising severity.

For one task, every encoder is probed on features of corrupted audio (train, valid and
test corrupted alike, METHOD.md section 8) at every (corruption, severity); severity 0 is
the clean audio, probed once per encoder and shared by all corruptions. Writes
``robustness.json``, ``robustness.md`` and ``plots/<corruption>.png``
(:mod:`semisupcon_recipe.evaluation.report`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from semisupcon_recipe.cli_options import UsageError, default_device
from semisupcon_recipe.evaluation.probing import feature_cache_root, probe_task
from semisupcon_recipe.evaluation.report import plot_robustness, robustness_markdown, short_labels, summarize
from semisupcon_recipe.evaluation.tasks import (
    ProbeSettings,
    ProbeTask,
    check_manifests_exist,
    corruption_parameters,
    load_tasks_file,
    pick_task,
)

if TYPE_CHECKING:
    from semisupcon_recipe.checkpoints import LoadedEncoder

logger = logging.getLogger(__name__)

CLEAN = "clean"


@dataclass
class Sweep:
    """What one robustness run probes: the task, head, corruptions (with parameters) and severities."""

    settings: ProbeSettings
    task: ProbeTask
    head: str
    corruption_params: dict[str, dict]
    severities: list[int]
    out: Path
    cache_root: Path
    device: str


def check_sweep(
    settings: ProbeSettings, task: ProbeTask, tasks_file: str | Path, head: str | None,
    corruptions: Sequence[str], severities: Sequence[int],
) -> tuple[str, dict[str, dict], list[int]]:
    """The head, each corruption's parameters and the sorted severities, or a :class:`UsageError`.

    Example
    -------
    >>> from semisupcon_recipe.evaluation.tasks import ProbeSettings, ProbeTask
    >>> settings = ProbeSettings({}, {}, {"linear": object}, [1])
    >>> task = ProbeTask("genre", "multiclass", {}, "accuracy")
    >>> check_sweep(settings, task, "t.yaml", None, ["mp3"], [2, 0, 2])
    ('linear', {'mp3': {}}, [0, 2])
    >>> check_sweep(settings, task, "t.yaml", None, ["mp3"], [7])
    Traceback (most recent call last):
    ...
    semisupcon_recipe.cli_options.UsageError: severities [7] are outside [0, 1, 2, 3, 4]
    """
    from semisupcon_recipe.corruptions import CORRUPTIONS, SEVERITIES

    head = head or next(iter(settings.heads))
    if head not in settings.heads:
        raise UsageError(f"head {head!r} is not in {tasks_file} (heads: {sorted(settings.heads)})")
    unknown = [name for name in corruptions if name not in CORRUPTIONS]
    if unknown:
        raise UsageError(f"unknown corruption(s) {unknown}; available: {sorted(CORRUPTIONS)}")
    bad = [severity for severity in severities if severity not in SEVERITIES]
    if bad:
        raise UsageError(f"severities {bad} are outside {list(SEVERITIES)}")
    params = corruption_parameters(settings.features, corruptions, tasks_file)
    return head, params, sorted(set(int(severity) for severity in severities))


def encoder_labels(checkpoints: Sequence[str | Path], labels: Sequence[str] | None) -> list[str]:
    """The names of the encoders in tables and plots: ``labels``, else short path suffixes.

    Example
    -------
    >>> encoder_labels(["runs/ssl/save", "runs/semisupcon/save"], None)
    ['ssl/save', 'semisupcon/save']
    """
    labels = list(labels) if labels else short_labels([str(path) for path in checkpoints])
    if len(labels) != len(checkpoints) or len(set(labels)) != len(labels):
        raise UsageError(f"give one distinct label per model; got labels {labels} for {len(checkpoints)} model(s)")
    return labels


def sweep_encoder(sweep: Sweep, encoder: LoadedEncoder, label: str) -> dict[str, dict[str, dict]]:
    """Scores of one encoder: corruption -> severity (as text) -> :func:`summarize` of the test metric over seeds."""
    from semisupcon_recipe.chunking import CorruptionSpec

    metric, seed = sweep.task.select_on, sweep.settings.features["corruption_seed"]
    scores: dict[str, dict[str, dict]] = {name: {} for name in sweep.corruption_params}
    clean = None
    for name, params in sweep.corruption_params.items():
        for severity in sweep.severities:
            if severity == 0 and clean is not None:
                scores[name]["0"] = clean
                continue
            spec = None if severity == 0 else CorruptionSpec(name, severity, seed, params=params)
            condition = CLEAN if spec is None else spec.tag
            logger.info("robustness: %s, %s, %s", label, sweep.task.name, condition)
            runs_folder = sweep.out / "runs" / _folder_name(label) / condition
            runs = probe_task(encoder, sweep.task, sweep.settings, runs_folder, sweep.cache_root, sweep.device,
                              corruption=spec, heads=[sweep.head],
                              extra_results={"encoder": str(encoder.weights), "corruption": condition})[sweep.head]
            summary = {**summarize([run["test"][metric] for run in runs]), "runs": [str(runs_folder / sweep.head)]}
            scores[name][str(severity)] = summary
            if severity == 0:
                clean = summary
    return scores


def robustness(
    checkpoints: Sequence[str | Path],
    tasks_file: str | Path,
    corruptions: Sequence[str],
    severities: Sequence[int],
    out: str | Path,
    task_name: str | None = None,
    head: str | None = None,
    labels: Sequence[str] | None = None,
    command: str = "",
    encoder_spec: str | Path | None = None,
    cache: str | Path | None = None,
    device: str | None = None,
    trust_code: bool = False,
) -> dict:
    """Score encoders on one task under corruptions of increasing severity (see the module docstring).

    Parameters
    ----------
    checkpoints : sequence
        Encoders (export folders or pretraining checkpoints).
    tasks_file : str or Path
        Protocol, heads, seeds and tasks.
    corruptions : sequence of str
        Names of :data:`semisupcon_recipe.corruptions.CORRUPTIONS`.
    severities : sequence of int
        Severities in 0..4.
    out : str or Path
        Output folder.
    task_name : str, optional
        The task to use when the file lists several.
    head : str, optional
        Head to train (default: the first of the file).
    labels : sequence of str, optional
        Names of the encoders in tables and plots (default: short path suffixes).
    command, encoder_spec, cache, device, trust_code
        As in :func:`semisupcon_recipe.evaluation.probing.evaluate_encoder`.

    Returns
    -------
    dict
        The content of ``robustness.json``.
    """
    from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
    from semisupcon_recipe.files import write_json

    settings, tasks = load_tasks_file(tasks_file)
    task = pick_task(tasks, task_name, tasks_file)
    check_manifests_exist([task], tasks_file)
    head, params, severities = check_sweep(settings, task, tasks_file, head, corruptions, severities)
    labels = encoder_labels(checkpoints, labels)
    sweep = Sweep(settings, task, head, params, severities, Path(out), feature_cache_root(out, cache),
                  device or default_device())
    encoders, by_encoder = {}, {}
    for label, checkpoint in zip(labels, checkpoints):
        encoder = load_encoder_from_checkpoint(checkpoint, encoder_spec, trust_code)
        encoders[label] = {"checkpoint": str(checkpoint), "weights": str(encoder.weights)}
        by_encoder[label] = sweep_encoder(sweep, encoder, label)
    scores = {name: {label: by_encoder[label][name] for label in labels} for name in params}
    results = {
        "command": command,
        "task": {"name": task.name, "kind": task.kind, "manifests": task.manifests},
        "metric": task.select_on,
        "head": head,
        "protocol": settings.training["protocol"],
        "seeds": settings.seeds,
        "severities": severities,
        "corruption_params": params,
        "encoders": encoders,
        "scores": scores,
        "plots": {name: f"plots/{name}.png" for name in params},
    }
    for name in params:
        plot_robustness(scores[name], severities, task.select_on, f"{task.name}: {name}", sweep.out / "plots" / f"{name}.png")
    write_json(sweep.out / "robustness.json", results)
    (sweep.out / "robustness.md").write_text(robustness_markdown(results), encoding="utf-8")
    return results


def _folder_name(label: str) -> str:
    """A label made safe as one folder name."""
    return re.sub(r"[^\w.-]+", "_", label)
