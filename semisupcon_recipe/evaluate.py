"""``semisupcon evaluate`` and ``semisupcon robustness``: probe frozen encoders on tasks.

``semisupcon evaluate --encoder CKPT --tasks tasks.yaml --out DIR`` trains the probe
heads of METHOD.md section 9 on every task of ``tasks.yaml`` (every head, every seed)
and writes ``DIR/results.md`` and ``DIR/results.json`` (with the command line that
produced them). ``semisupcon robustness --encoders A B --tasks tasks.yaml --task NAME
--corruptions reverb mp3 --severities 0 1 2 3 4 --out DIR`` does the same for one task
with the probe's train, valid and test audio corrupted (METHOD.md section 8), and
writes a score-vs-severity table (``robustness.md``, ``robustness.json``) and one plot
per corruption (``plots/<corruption>.png``). Severity 0 is the clean audio, shared by
all corruptions.

An encoder is a ``semisupcon export`` folder, or a pretraining checkpoint (an
``encoder.ckpt``, a ``CKPT+`` folder, a ``save/`` or output folder: the checkpoint
with the lowest validation loss, else the latest, as ``semisupcon export`` picks)
described by the ``encoder_spec.yaml`` that pretraining writes into its output folder
(``--encoder-spec`` if it lives elsewhere).

The tasks file is hyperpyyaml; the shared blocks of ``hparams/probe/`` can be included::

    training: !include:<repo>/hparams/probe/tuned.yaml {}      # protocol (tuned | paper) and
    features: !include:<repo>/hparams/probe/features.yaml {}   # its settings; chunking
    heads:                                                      # name -> block with `head`
        linear: !include:<repo>/hparams/probe/linear.yaml {}
        mlp: !include:<repo>/hparams/probe/mlp.yaml {}
    seeds: [1, 2, 3]
    tasks:
        - name: gtzan
          kind: multiclass                # multilabel | multiclass | regression
          train: /data/gtzan/train.csv
          valid: /data/gtzan/valid.csv
          test: /data/gtzan/test.csv
          select_on: accuracy             # optional; default roc_auc | accuracy | r2
          replacements: {data_root: /data} # optional $name replacements of the manifests

Features are cached under ``DIR/features`` (``--cache`` to share a cache between
commands); probe runs live in ``DIR/runs/...`` and resume when a command is rerun.
The protocols (``tuned``, the default, and the paper's ``paper``) are described in
:mod:`semisupcon_recipe.probe_protocols`; the results name the protocol that produced them.

This module keeps torch and SpeechBrain imports inside functions, so building the
command-line parser stays quick.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import shlex
import sys
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

if TYPE_CHECKING:
    from semisupcon_recipe.checkpoints import LoadedEncoder
    from semisupcon_recipe.features import CorruptionSpec
    from semisupcon_recipe.probe_data import ProbeData

logger = logging.getLogger(__name__)

TASK_KINDS = ("multilabel", "multiclass", "regression")
TASK_FIELDS = ("name", "kind", "train", "valid", "test")
FEATURE_FIELDS = ("chunk_len", "max_chunks", "extract_batch_size", "shard_size", "num_workers", "corruption_seed")
CLEAN = "clean"


class TasksFileError(ValueError):
    """A tasks file is malformed; the message names the file, the entry and the fix."""


class MissingManifestsError(FileNotFoundError):
    """Manifests a tasks file names do not exist; the message lists them all and the fix."""


@dataclass
class ProbeTask:
    """One downstream task: three manifests and how to score them."""

    name: str
    kind: str
    manifests: dict[str, str]
    select_on: str
    replacements: dict[str, str] = field(default_factory=dict)


@dataclass
class ProbeSettings:
    """Everything a tasks file sets besides the tasks."""

    training: dict
    features: dict
    heads: dict[str, Callable]
    seeds: list[int]


def _head_factory(block: object, where: str) -> Callable:
    if callable(block):
        return block
    if isinstance(block, Mapping) and callable(block.get("head")):
        return block["head"]
    raise TasksFileError(f"{where}: a head is a `!name:` constructor or a block with a `head` entry "
                         f"(e.g. !include:<repo>/hparams/probe/linear.yaml {{}})")


def _require(mapping: object, keys: Sequence[str], where: str) -> dict:
    if not isinstance(mapping, Mapping):
        raise TasksFileError(f"{where} must be a mapping with {list(keys)}")
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise TasksFileError(f"{where} lacks {missing}; see hparams/probe/*.yaml for the expected entries")
    return dict(mapping)


def parse_settings(document: Mapping, where: str) -> ProbeSettings:
    """Check the ``training``, ``features``, ``heads`` and ``seeds`` blocks of a tasks file or recipe.

    ``training`` holds a ``protocol`` (``tuned`` or ``paper``, see
    :mod:`semisupcon_recipe.probe_protocols`) and that protocol's entries.

    Example
    -------
    >>> from semisupcon_recipe.probe import ProbeHead
    >>> settings = parse_settings({"training": {"protocol": "tuned", "max_iterations": 100,
    ...                                         "grid": {"weight_decay": [0.001, 0.01]}},
    ...                            "features": dict.fromkeys(FEATURE_FIELDS), "heads": {"linear": ProbeHead},
    ...                            "seeds": [1, 2]}, "tasks.yaml")
    >>> settings.training["protocol"], settings.seeds
    ('tuned', [1, 2])
    """
    from semisupcon_recipe.probe_protocols import PROTOCOL_FIELDS
    from semisupcon_recipe.probe_tuning import check_grid

    document = _require(document, ("training", "features", "heads", "seeds"), where)
    training = _require(document["training"], ("protocol",), f"{where}: training")
    protocol = training["protocol"]
    if protocol not in PROTOCOL_FIELDS:
        raise TasksFileError(f"{where}: training: protocol {protocol!r} is not one of {sorted(PROTOCOL_FIELDS)}; "
                             f"include hparams/probe/tuned.yaml (default) or hparams/probe/paper.yaml")
    training = _require(training, PROTOCOL_FIELDS[protocol], f"{where}: training ({protocol} protocol)")
    if protocol == "tuned" and check_grid(training["grid"]):
        raise TasksFileError(f"{where}: training: grid: {'; '.join(check_grid(training['grid']))}")
    features = _require(document["features"], FEATURE_FIELDS, f"{where}: features")
    if not isinstance(document["heads"], Mapping) or not document["heads"]:
        raise TasksFileError(f"{where}: heads must map names to heads, e.g. linear: !include:.../linear.yaml {{}}")
    heads = {str(name): _head_factory(block, f"{where}: heads: {name}") for name, block in document["heads"].items()}
    seeds = document["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(seed, int) for seed in seeds):
        raise TasksFileError(f"{where}: seeds must be a non-empty list of integers, got {seeds!r}")
    return ProbeSettings(training, features, heads, list(seeds))


def parse_task(entry: object, where: str) -> ProbeTask:
    """Check one task entry (``name``, ``kind``, ``train``, ``valid``, ``test``, optional
    ``select_on`` and ``replacements``) and return it as a :class:`ProbeTask`.

    Example
    -------
    >>> parse_task({"name": "gtzan", "kind": "multiclass", "train": "a.csv", "valid": "b.csv", "test": "c.csv",
    ...             "select_on": None}, "tasks.yaml: tasks[0]").select_on
    'accuracy'
    """
    from semisupcon_recipe.metrics import KEY_METRIC, METRICS_BY_KIND

    entry = _require(entry, TASK_FIELDS, where)
    name, kind = str(entry["name"]), entry["kind"]
    if not re.fullmatch(r"[\w.-]+", name):
        raise TasksFileError(f"{where}: task name {name!r} must use letters, digits, '_', '-' or '.' (it names folders)")
    if kind not in TASK_KINDS:
        raise TasksFileError(f"{where} ({name}): kind {kind!r} is not one of {TASK_KINDS}")
    allowed = METRICS_BY_KIND[kind] + ((KEY_METRIC,) if kind == "multiclass" else ())
    select_on = entry.get("select_on") or METRICS_BY_KIND[kind][0]
    if select_on not in allowed:
        raise TasksFileError(f"{where} ({name}): select_on {select_on!r} is not a {kind} metric; use one of {allowed}")
    manifests = {split: str(entry[split]) for split in ("train", "valid", "test")}
    return ProbeTask(name, kind, manifests, select_on, dict(entry.get("replacements") or {}))


def load_tasks_file(path: str | Path) -> tuple[ProbeSettings, list[ProbeTask]]:
    """Read and check a tasks file (format in the module docstring).

    Raises
    ------
    TasksFileError
        A missing entry, an unknown kind or protocol, a duplicate task name or a bad
        ``select_on``; the message names the file and the task.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tasks.yaml")
    >>> _ = open(path, "w").write('''
    ... training: {protocol: paper, batch_size: 64, max_epochs: 100, patience: 10,
    ...            opt_class: !name:torch.optim.Adam {lr: 0.0003}}
    ... features: {chunk_len: null, max_chunks: 64, extract_batch_size: 32, shard_size: 256,
    ...            num_workers: 0, corruption_seed: 0}
    ... heads: {linear: !name:semisupcon_recipe.probe.ProbeHead {hidden_size: 0}}
    ... seeds: [1]
    ... tasks:
    ...   - {name: gtzan, kind: multiclass, train: a.csv, valid: b.csv, test: c.csv}
    ... ''')
    >>> settings, tasks = load_tasks_file(path)
    >>> tasks[0].name, tasks[0].select_on, list(settings.heads), settings.seeds
    ('gtzan', 'accuracy', ['linear'], [1])
    """
    from hyperpyyaml import load_hyperpyyaml

    path = Path(path)
    if not path.is_file():
        raise TasksFileError(f"tasks file {path} does not exist")
    with open(path, encoding="utf-8") as stream:
        document = load_hyperpyyaml(stream)
    document = _require(document, ("training", "features", "heads", "seeds", "tasks"), f"tasks file {path}")
    settings = parse_settings(document, str(path))
    if not isinstance(document["tasks"], list) or not document["tasks"]:
        raise TasksFileError(f"{path}: tasks must be a non-empty list of tasks")
    tasks = []
    for index, entry in enumerate(document["tasks"]):
        task = parse_task(entry, f"{path}: tasks[{index}]")
        if any(other.name == task.name for other in tasks):
            raise TasksFileError(f"{path}: tasks[{index}]: task name {task.name!r} is used twice")
        tasks.append(task)
    return settings, tasks


# ----------------------------------------------------------------------------------
# Running probes
# ----------------------------------------------------------------------------------
def check_manifests_exist(tasks: Sequence[ProbeTask], tasks_file: str | Path) -> None:
    """Fail before any probing when a manifest of ``tasks`` is missing, listing every one.

    Example
    -------
    >>> task = ProbeTask("genre", "multiclass", {"train": "/nowhere/train.csv", "valid": "/nowhere/valid.csv",
    ...                  "test": "/nowhere/test.csv"}, "accuracy")
    >>> try:
    ...     check_manifests_exist([task], "tasks.yaml")
    ... except MissingManifestsError as error:
    ...     print(str(error).splitlines()[1])
      genre: train /nowhere/train.csv, valid /nowhere/valid.csv, test /nowhere/test.csv
    """
    missing = {
        task.name: [f"{split} {path}" for split, path in task.manifests.items() if not Path(path).is_file()]
        for task in tasks
    }
    lines = [f"  {name}: {', '.join(paths)}" for name, paths in missing.items() if paths]
    if lines:
        raise MissingManifestsError(
            f"{tasks_file} names manifests that do not exist:\n" + "\n".join(lines) + "\n"
            "run the datasets' prepare scripts (recipes/<Dataset>/README.md) to write them, "
            "or remove those tasks from the tasks file"
        )


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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

    ``settings.features["chunk_len"]`` null means the encoder's clip length.
    """
    from semisupcon_recipe.features import extract_embeddings
    from semisupcon_recipe.probe_data import SPLITS, probe_datasets

    chunk_len = settings.features["chunk_len"] or encoder.clip_len
    features = {
        split: extract_embeddings(
            encoder.module,
            task.manifests[split],
            cache_root,
            chunk_len=chunk_len,
            max_chunks=settings.features["max_chunks"],
            corruption=corruption,
            replacements=task.replacements,
            batch_size=settings.features["extract_batch_size"],
            shard_size=settings.features["shard_size"],
            num_workers=settings.features["num_workers"],
            device=device,
        )
        for split in SPLITS
    }
    return probe_datasets(task.kind, features, task.manifests, task.replacements), chunk_len


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


def summarize(values: Sequence[float]) -> dict:
    """Mean, standard deviation (0 for one value) and the values themselves.

    Example
    -------
    >>> summarize([0.5, 0.7])
    {'mean': 0.6, 'std': 0.1414..., 'values': [0.5, 0.7]}
    """
    values = [float(value) for value in values]
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def metric_names(run: Mapping) -> list[str]:
    """The scalar metric names of a run's test results (its ``loss`` left out).

    Example
    -------
    >>> metric_names({"test": {"roc_auc": 0.9, "pr_auc": 0.4, "excluded_tags": [], "loss": 0.1}})
    ['roc_auc', 'pr_auc']
    """
    return [name for name, value in run["test"].items() if isinstance(value, float) and name != "loss"]


def summarize_runs(runs: Sequence[Mapping]) -> dict:
    """Per metric, :func:`summarize` of the test and validation scores over seeds."""
    return {
        stage: {name: summarize([run[stage][name] for run in runs]) for name in metric_names(runs[0])}
        for stage in ("test", "valid")
    }


def format_score(summary: Mapping) -> str:
    """``mean ± std`` with 4 decimals (``mean`` alone for one seed; ``n/a`` if undefined).

    Example
    -------
    >>> format_score({"mean": 0.61234, "std": 0.01, "values": [0.6, 0.62]}), format_score(summarize([0.5]))
    ('0.6123 ± 0.0100', '0.5000')
    """
    if math.isnan(summary["mean"]):
        return "n/a"
    if len(summary["values"]) == 1:
        return f"{summary['mean']:.4f}"
    return f"{summary['mean']:.4f} ± {summary['std']:.4f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table.

    Example
    -------
    >>> print(markdown_table(["a", "b"], [[1, "x"]]))
    | a | b |
    |---|---|
    | 1 | x |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line(args: argparse.Namespace, subcommand: str) -> str:
    """The ``semisupcon`` command equivalent to parsed ``args`` (every option spelled out).

    Example
    -------
    >>> command_line(argparse.Namespace(encoder="a b", encoder_spec="s.yaml", cache=None, trust_code=False, _target="x"), "evaluate")
    "semisupcon evaluate --encoder 'a b' --encoder-spec s.yaml"
    >>> command_line(argparse.Namespace(encoder="e", trust_code=True), "evaluate")
    'semisupcon evaluate --encoder e --trust-code'
    """
    words = ["semisupcon", subcommand]
    for name, value in vars(args).items():
        if name.startswith("_") or name == "command" or value is None or value is False:
            continue
        words.append("--" + name.replace("_", "-"))
        if value is True:  # a flag
            continue
        words += [str(item) for item in value] if isinstance(value, (list, tuple)) else [str(value)]
    return shlex.join(words)


# ----------------------------------------------------------------------------------
# semisupcon evaluate
# ----------------------------------------------------------------------------------
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
        Export folder or pretraining checkpoint (see the module docstring).
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
    from semisupcon_recipe.probe import write_json

    out = Path(out)
    settings, tasks = load_tasks_file(tasks_file)
    check_manifests_exist(tasks, tasks_file)
    device = device or default_device()
    encoder = load_encoder_from_checkpoint(checkpoint, encoder_spec, trust_code)
    cache_root = Path(cache) if cache else out / "features"
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
        runs = probe_task(encoder, task, settings, out / "runs" / task.name, cache_root, device,
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


def results_markdown(results: Mapping) -> str:
    """The ``results.md`` of :func:`evaluate_encoder`: one row per task, head and metric."""
    from semisupcon_recipe.probe_protocols import PROTOCOL_DESCRIPTIONS

    rows, notes = [], []
    for task in results["tasks"]:
        for head, summary in task["heads"].items():
            for metric, test in summary["test"].items():
                selected = " (selection)" if metric == task["select_on"] else ""
                rows.append([task["name"], task["kind"], head, metric + selected, format_score(test),
                             format_score(summary["valid"][metric]), len(test["values"])])
            excluded = sorted({tag for run in summary["runs"] for tag in run["test"].get("excluded_tags", [])})
            if excluded:
                notes.append(f"- {task['name']} / {head}: tag(s) without positive or negative test example, "
                             f"left out of the macro averages: {', '.join(excluded)}")
            unseen = sorted({name for run in summary["runs"] for name in run.get("data", {}).get("test", {}).get("labels_not_in_train", [])})
            if unseen:
                notes.append(f"- {task['name']} / {head}: label(s) of the test split absent from the training split "
                             f"(the probe cannot learn them): {', '.join(unseen)}")
    lines = [
        "# Probe results",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Encoder: `{results['encoder']['weights']}` (spec `{results['encoder']['spec']}`)",
        "",
        f"Protocol: {PROTOCOL_DESCRIPTIONS[results['protocol']]}.",
        "",
        "Test scores of the probe chosen on the validation split, mean ± standard deviation over seeds.",
        "",
        markdown_table(["Task", "Kind", "Head", "Metric", "Test", "Valid", "Seeds"], rows),
    ]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------
# semisupcon robustness
# ----------------------------------------------------------------------------------
def short_labels(paths: Sequence[str]) -> list[str]:
    """The shortest path suffixes that tell the given paths apart.

    Example
    -------
    >>> short_labels(["results/ssl/1234", "results/semisupcon/1234"])
    ['ssl/1234', 'semisupcon/1234']
    >>> short_labels(["a/x", "b/y"])
    ['x', 'y']
    """
    parts = [Path(path).parts for path in paths]
    for length in range(1, max(len(part) for part in parts) + 1):
        labels = ["/".join(part[-length:]) for part in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [str(path) for path in paths]


def robustness(
    checkpoints: Sequence[str | Path],
    tasks_file: str | Path,
    corruptions: Sequence[str],
    severities: Sequence[int],
    out: str | Path,
    task_name: str | None = None,
    head: str | None = None,
    labels: Sequence[str] | None = None,
    encoder_spec: str | Path | None = None,
    cache: str | Path | None = None,
    device: str | None = None,
    command: str = "",
    trust_code: bool = False,
) -> dict:
    """Score encoders on one task under corruptions of increasing severity.

    The probe is trained and tested on corrupted features (train, valid and test audio
    corrupted alike, METHOD.md section 8); severity 0 is the clean audio, shared by all
    corruptions. Writes ``robustness.json``, ``robustness.md`` and
    ``plots/<corruption>.png``.

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
    encoder_spec, cache, device, command, trust_code
        As in :func:`evaluate_encoder`.

    Returns
    -------
    dict
        The content of ``robustness.json``.
    """
    from semisupcon_recipe.corruptions import CORRUPTIONS, SEVERITIES
    from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
    from semisupcon_recipe.features import CorruptionSpec
    from semisupcon_recipe.probe import write_json

    out = Path(out)
    settings, tasks = load_tasks_file(tasks_file)
    task = _pick_task(tasks, task_name, tasks_file)
    check_manifests_exist([task], tasks_file)
    head = head or next(iter(settings.heads))
    if head not in settings.heads:
        raise ValueError(f"head {head!r} is not in {tasks_file} (heads: {sorted(settings.heads)})")
    unknown = [name for name in corruptions if name not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {unknown}; available: {sorted(CORRUPTIONS)}")
    corruption_params = corruption_parameters(settings.features, corruptions, tasks_file)
    bad = [severity for severity in severities if severity not in SEVERITIES]
    if bad:
        raise ValueError(f"severities {bad} are outside {list(SEVERITIES)}")
    labels = list(labels) if labels else short_labels([str(path) for path in checkpoints])
    if len(labels) != len(checkpoints) or len(set(labels)) != len(labels):
        raise ValueError(f"give one distinct label per encoder; got labels {labels} for {len(checkpoints)} encoder(s)")
    severities = sorted(set(int(severity) for severity in severities))
    device = device or default_device()
    cache_root = Path(cache) if cache else out / "features"
    metric = task.select_on
    scores: dict[str, dict[str, dict[str, dict]]] = {name: {label: {} for label in labels} for name in corruptions}
    encoders = {}
    for label, checkpoint in zip(labels, checkpoints):
        encoder = load_encoder_from_checkpoint(checkpoint, encoder_spec, trust_code)
        encoders[label] = {"checkpoint": str(checkpoint), "weights": str(encoder.weights)}
        clean = None
        for name in corruptions:
            for severity in severities:
                if severity == 0 and clean is not None:
                    scores[name][label]["0"] = clean
                    continue
                spec = None if severity == 0 else CorruptionSpec(name, severity, settings.features["corruption_seed"],
                                                                 params=corruption_params[name])
                condition = CLEAN if spec is None else spec.tag
                logger.info("robustness: %s, %s, %s", label, task.name, condition)
                runs = probe_task(
                    encoder, task, settings, out / "runs" / _folder_name(label) / condition, cache_root, device,
                    corruption=spec, heads=[head],
                    extra_results={"encoder": str(encoder.weights), "corruption": condition},
                )[head]
                summary = {**summarize([run["test"][metric] for run in runs]),
                           "runs": [str(out / "runs" / _folder_name(label) / condition / head)]}
                scores[name][label][str(severity)] = summary
                if severity == 0:
                    clean = summary
    results = {
        "command": command,
        "task": {"name": task.name, "kind": task.kind, "manifests": task.manifests},
        "metric": metric,
        "head": head,
        "protocol": settings.training["protocol"],
        "seeds": settings.seeds,
        "severities": severities,
        "corruption_params": corruption_params,
        "encoders": encoders,
        "scores": scores,
        "plots": {name: f"plots/{name}.png" for name in corruptions},
    }
    for name in corruptions:
        plot_robustness(scores[name], severities, metric, f"{task.name}: {name}", out / "plots" / f"{name}.png")
    write_json(out / "robustness.json", results)
    (out / "robustness.md").write_text(robustness_markdown(results), encoding="utf-8")
    return results


def corruption_parameters(features: Mapping, corruptions: Sequence[str], tasks_file: str | Path) -> dict[str, dict]:
    """Parameters of each named corruption from the features block's ``corruptions`` entry.

    ``hparams/probe/features.yaml`` includes ``hparams/augment/corruptions.yaml`` there;
    a corruption without a block keeps the defaults of
    :mod:`semisupcon_recipe.corruptions`.

    Example
    -------
    >>> corruption_parameters({"corruptions": {"distortion": {"drive_db": 12.0}}}, ["distortion", "reverb"], "t.yaml")
    {'distortion': {'drive_db': 12.0}, 'reverb': {}}
    """
    blocks = features.get("corruptions") or {}
    if not isinstance(blocks, Mapping) or not all(isinstance(block, Mapping) for block in blocks.values()):
        raise TasksFileError(f"{tasks_file}: features: corruptions must map corruption names to parameter blocks "
                             f"(see hparams/augment/corruptions.yaml)")
    return {name: dict(blocks.get(name) or {}) for name in corruptions}


def _pick_task(tasks: Sequence[ProbeTask], task_name: str | None, tasks_file: str | Path) -> ProbeTask:
    names = [task.name for task in tasks]
    if task_name is None:
        if len(tasks) > 1:
            raise ValueError(f"{tasks_file} lists several tasks {names}; choose one with --task")
        return tasks[0]
    if task_name not in names:
        raise ValueError(f"task {task_name!r} is not in {tasks_file} (tasks: {names})")
    return tasks[names.index(task_name)]


def _folder_name(label: str) -> str:
    """A label made safe as one folder name."""
    return re.sub(r"[^\w.-]+", "_", label)


def robustness_markdown(results: Mapping) -> str:
    """The ``robustness.md`` of :func:`robustness`: one table per corruption."""
    from semisupcon_recipe.probe_protocols import PROTOCOL_DESCRIPTIONS

    severities = results["severities"]
    lines = [
        "# Robustness",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Task `{results['task']['name']}` ({results['task']['kind']}), head `{results['head']}`, "
        f"test {results['metric']} (mean ± standard deviation over seeds {results['seeds']}) of a probe "
        f"trained and tested on corrupted audio; severity 0 is the clean audio.",
        "",
        f"Protocol: {PROTOCOL_DESCRIPTIONS[results['protocol']]}.",
    ]
    for name, by_encoder in results["scores"].items():
        rows = []
        for label, by_severity in by_encoder.items():
            cells = [format_score(by_severity[str(severity)]) for severity in severities]
            drop = by_severity[str(severities[-1])]["mean"] - by_severity[str(severities[0])]["mean"]
            rows.append([label, *cells, f"{drop:+.4f}"])
        header = ["Encoder", *[f"S{severity}" for severity in severities], f"S{severities[-1]} − S{severities[0]}"]
        lines += ["", f"## {name}", "", markdown_table(header, rows), "", f"![{name}]({results['plots'][name]})"]
    return "\n".join(lines) + "\n"


def plot_robustness(by_encoder: Mapping, severities: Sequence[int], metric: str, title: str, path: str | Path) -> Path:
    """Score vs severity, one line (with standard-deviation bars) per encoder; PNG (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = pyplot.subplots(figsize=(5, 3.5))
    for label, by_severity in by_encoder.items():
        means = [by_severity[str(severity)]["mean"] for severity in severities]
        stds = [by_severity[str(severity)]["std"] for severity in severities]
        axes.errorbar(severities, means, yerr=stds, marker="o", capsize=3, label=label)
    axes.set_xlabel("severity")
    axes.set_ylabel(metric)
    axes.set_xticks(list(severities))
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


# ----------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------
def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", required=True, help="tasks yaml: protocol, heads, seeds, tasks (see module docs)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--encoder-spec", help="encoder_spec.yaml, if not next to the checkpoint(s)")
    parser.add_argument("--cache", help="feature cache folder (default: OUT/features)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--trust-code", action="store_true",
                        help="allow an encoder class outside the project's allow-list (runs that class's code)")


def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoder", required=True,
                        help="export folder, encoder.ckpt, CKPT+ folder, or pretraining save/output folder")
    _common_arguments(parser)


def _robustness_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoders", nargs="+", required=True, help="encoders to compare (as for evaluate --encoder)")
    parser.add_argument("--labels", nargs="+", help="names of the encoders in tables and plots")
    _common_arguments(parser)
    parser.add_argument("--task", help="name of the task in --tasks (needed when it lists several)")
    parser.add_argument("--head", help="head of --tasks to train (default: its first)")
    parser.add_argument("--corruptions", nargs="+", required=True,
                        help="chain time_stretch splice_out reverb chorus distortion compression reversal bit_crush mp3")
    parser.add_argument("--severities", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="0 (clean) to 4")


_ARGUMENTS = {"evaluate": _evaluate_arguments, "robustness": _robustness_arguments}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``semisupcon evaluate`` or ``semisupcon robustness`` (chosen by ``parser.prog``).

    Example
    -------
    >>> parser = argparse.ArgumentParser(prog="semisupcon robustness")
    >>> add_arguments(parser)
    >>> parser.parse_args("--encoders a b --tasks t.yaml --out o --corruptions mp3".split()).severities
    [0, 1, 2, 3, 4]
    """
    subcommand = parser.prog.split()[-1]
    if subcommand not in _ARGUMENTS:
        raise ValueError(f"{__name__} provides the subcommands {sorted(_ARGUMENTS)}, not {subcommand!r}")
    _ARGUMENTS[subcommand](parser)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def _expected_errors() -> tuple[type[Exception], ...]:
    """Bad input of both commands (exit 2): tasks file, manifests, encoder folder, description, checkpoint."""
    from semisupcon_recipe.checkpoints import CheckpointError
    from semisupcon_recipe.encoder_spec import UnsafeDescriptionError
    from semisupcon_recipe.manifest import ManifestError

    return (MissingManifestsError, TasksFileError, CheckpointError, UnsafeDescriptionError, ManifestError, FileNotFoundError)


def evaluate_command(args: argparse.Namespace) -> int:
    """Entry point of ``semisupcon evaluate``."""
    _configure_logging()
    try:
        results = evaluate_encoder(args.encoder, args.tasks, args.out, args.encoder_spec, args.cache, args.device,
                                   command=command_line(args, "evaluate"), trust_code=args.trust_code)
    except _expected_errors() as error:
        print(f"semisupcon evaluate: error: {error}", file=sys.stderr)
        return 2
    print(results_markdown(results))
    return 0


def robustness_command(args: argparse.Namespace) -> int:
    """Entry point of ``semisupcon robustness``."""
    _configure_logging()
    try:
        results = robustness(args.encoders, args.tasks, args.corruptions, args.severities, args.out,
                             task_name=args.task, head=args.head, labels=args.labels, encoder_spec=args.encoder_spec,
                             cache=args.cache, device=args.device, command=command_line(args, "robustness"),
                             trust_code=args.trust_code)
    except _expected_errors() as error:
        print(f"semisupcon robustness: error: {error}", file=sys.stderr)
        return 2
    print(robustness_markdown(results))
    return 0
