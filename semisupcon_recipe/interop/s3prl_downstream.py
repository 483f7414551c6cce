"""``semisupcon s3prl-eval``: train and test s3prl's own downstream models on our tasks.

``semisupcon evaluate`` probes frozen track embeddings with the paper's protocol;
this command hands the same tasks to s3prl's trainer (``s3prl.problem``, HEAR scene
tasks: a frozen upstream, s3prl's Featurizer and prediction head, its optimizer,
validation and test loop) so results can be set beside those of any s3prl upstream.

For each task of a tasks file (the format of ``semisupcon evaluate``) whose kind s3prl's
scene problems support (multiclass, multilabel) it

1. writes a HEAR train/valid/test task folder from the task's manifests:
   ``train.json`` / ``valid.json`` / ``test.json`` (``{file: [labels]}``) and the audio
   as 16 kHz mono wav in ``16000/<split>/`` (decoded once, reused by later runs);
2. runs ``s3prl.problem.HearFSD`` (multilabel) or its multiclass variant with the
   ``semisupcon_local`` upstream on the exported folder; the knobs (steps, batch size,
   learning rate, head) come from a yaml (``hparams/s3prl_downstream.yaml``);
3. writes ``results.md`` / ``results.json`` with the command that produced them.

Other kinds (regression, key) are listed in the results as not supported by s3prl's
scene problems. ``python -m s3prl.main`` cannot load an upstream defined outside s3prl;
this command registers ours before calling s3prl's trainer.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path
from typing import Mapping

import yaml

from semisupcon_recipe.cli_options import UsageError, add_device_argument, add_model_argument
from semisupcon_recipe.files import atomic_path
from semisupcon_recipe.manifest import SPLITS

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "hparams" / "s3prl_downstream.yaml"
HEAR_RATE = 16000
# task kind -> (s3prl prediction type, scores, the score that selects the best validation step)
SUPPORTED_KINDS = {
    "multiclass": ("multiclass", ["top1_acc"], "top1_acc"),
    "multilabel": ("multilabel", ["mAP", "aucroc"], "mAP"),
}


def hear_file_name(item_id: str) -> str:
    """A file name for a manifest ID: unsafe characters replaced, the ID kept readable.

    Example
    -------
    >>> hear_file_name("rock/00042 (live)")
    'rock_00042__live_.wav'
    """
    return re.sub(r"[^A-Za-z0-9._-]", "_", item_id) + ".wav"


def write_hear_task(manifests: Mapping[str, str], kind: str, folder: str | Path, replacements: Mapping[str, str] | None = None) -> dict:
    """Write a HEAR train/valid/test scene task from three manifests; returns clips per split.

    Audio already written by an earlier call is kept (the folder is a cache); the json
    files are rewritten each time.

    Parameters
    ----------
    manifests : mapping
        ``{"train": csv, "valid": csv, "test": csv}``.
    kind : str
        ``"multiclass"`` or ``"multilabel"`` (tags separated by ``;``).
    folder : path
        The task folder (``dataset_root`` of s3prl's HEAR problems).

    Example
    -------
    >>> import tempfile, numpy, soundfile
    >>> from semisupcon_recipe.manifest import write_manifest
    >>> root = Path(tempfile.mkdtemp())
    >>> soundfile.write(root / "a.wav", numpy.zeros(8000, dtype="float32"), 8000)
    >>> rows = [{"ID": "a", "duration": 1.0, "wav": str(root / "a.wav"), "labels": "rock"}]
    >>> paths = {split: root / f"{split}.csv" for split in SPLITS}
    >>> _ = [write_manifest(path, rows) for path in paths.values()]
    >>> write_hear_task(paths, "multiclass", root / "task")
    {'train': 1, 'valid': 1, 'test': 1}
    >>> json.loads((root / "task" / "train.json").read_text()), soundfile.info(root / "task" / "16000" / "train" / "a.wav").samplerate
    ({'a.wav': ['rock']}, 16000)
    """
    import soundfile

    from semisupcon_recipe.audio import read_audio
    from semisupcon_recipe.manifest import read_manifest, split_tags

    folder = Path(folder)
    counts = {}
    for split in SPLITS:
        audio_folder = folder / str(HEAR_RATE) / split
        audio_folder.mkdir(parents=True, exist_ok=True)
        metadata = {}
        for item_id, row in read_manifest(manifests[split], replacements).items():
            name = hear_file_name(item_id)
            if name in metadata:
                raise ValueError(f"{manifests[split]}: IDs {item_id!r} and another map to one file name {name}")
            labels = row.get("labels", "").strip()
            if not labels:
                raise ValueError(f"{manifests[split]}: row {item_id!r} has no label; probe manifests label every clip")
            metadata[name] = split_tags(labels) if kind == "multilabel" else [labels]
            target = audio_folder / name
            if not target.is_file():
                waveform = read_audio(row["wav"], HEAR_RATE)  # (T,) mono at 16 kHz
                with atomic_path(target) as temporary:
                    soundfile.write(temporary, waveform.numpy(), HEAR_RATE, subtype="FLOAT", format="WAV")
        (folder / f"{split}.json").write_text(json.dumps(metadata, indent=1), encoding="utf-8")
        counts[split] = len(metadata)
    return counts


def train_batch_size(num_train: int, batch_size: int) -> int:
    """``batch_size``, raised until no training batch holds a single clip.

    s3prl's batch sampler keeps the last partial batch, and one clip alone crashes the
    BatchNorm of its prediction head.

    Example
    -------
    >>> train_batch_size(33, 32), train_batch_size(40, 32), train_batch_size(1, 32)
    (33, 32, 32)
    """
    size = batch_size
    while num_train > size and num_train % size == 1:
        size += 1
    return size


def s3prl_config(problem, kind: str, task_folder: Path, run_folder: Path, model: str, settings: Mapping, num_train: int) -> dict:
    """s3prl's run configuration for one task: its defaults with our settings applied."""
    prediction_type, scores, valid_metric = SUPPORTED_KINDS[kind]
    config = problem.default_config()
    config.update(target_dir=str(run_folder), cache_dir=str(run_folder / "cache"))
    config["prepare_data"] = {"dataset_root": str(task_folder)}
    config["build_upstream"] = {"name": "semisupcon_local", "path_or_url": model}
    config["build_task"] = {"prediction_type": prediction_type, "scores": scores}
    config["build_downstream"] = dict(settings["downstream"])
    config["build_optimizer"] = {"name": "Adam", "conf": {"lr": settings["learning_rate"]}}
    config["build_batch_sampler"]["train"]["batch_size"] = train_batch_size(num_train, settings["batch_size"])
    config["train"].update(
        total_steps=settings["total_steps"],
        log_step=settings["eval_step"],
        eval_step=settings["eval_step"],
        save_step=settings["eval_step"],
        valid_metric=valid_metric,
        valid_higher_better=True,
    )
    return config


def run_s3prl_task(task, model: str, out: Path, settings: Mapping, device: str) -> dict:
    """Write one task's HEAR folder, train and test s3prl's downstream model; its test scores."""
    import semisupcon_recipe.interop.s3prl  # noqa: F401  (shims s3prl, registers semisupcon_local)
    from s3prl.problem.common.hear_fsd import HearFSD

    task_folder = out / "hear_tasks" / task.name
    counts = write_hear_task(task.manifests, task.kind, task_folder, task.replacements)
    run_folder = out / "runs" / task.name
    problem = HearFSD()
    config = s3prl_config(problem, task.kind, task_folder, run_folder, model, settings, counts["train"])
    problem.run(**config, device=device, num_workers=settings["num_workers"])
    results = sorted((run_folder / "evaluate").rglob("result.yaml"))
    if not results:
        raise RuntimeError(f"s3prl wrote no result.yaml under {run_folder / 'evaluate'}")
    scores = yaml.safe_load(results[-1].read_text())
    return {"clips": counts, "scores": {name: float(scores[name]) for name in SUPPORTED_KINDS[task.kind][1]}}


def results_markdown(results: Mapping) -> str:
    """``results.md``: one row per task with s3prl's test scores (in %)."""
    from semisupcon_recipe.evaluation.report import markdown_table

    rows = []
    for name, entry in results["tasks"].items():
        if "scores" in entry:
            scores = ", ".join(f"{metric} {100 * value:.1f}" for metric, value in entry["scores"].items())
            rows.append([name, entry["kind"], scores])
        else:
            rows.append([name, entry["kind"], entry["skipped"]])
    return "\n".join([
        f"# s3prl downstream evaluation of {results['model']}",
        "",
        f"s3prl's HEAR scene trainer (frozen upstream, Featurizer, head {results['settings']['downstream']}), "
        f"{results['settings']['total_steps']} steps, best validation step tested.",
        "",
        markdown_table(["task", "kind", "test scores (%)"], rows),
        "",
        f"Command: `{results['command']}`",
        "",
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``semisupcon s3prl-eval``."""
    add_model_argument(parser)
    parser.add_argument("--tasks", required=True, help="tasks file (the format of `semisupcon evaluate`)")
    parser.add_argument("--out", required=True, help="output folder: HEAR task folders, s3prl runs, results.md/json")
    parser.add_argument("--task", action="append", help="only this task (repeatable); default: every supported task")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="yaml of s3prl's training settings")
    add_device_argument(parser)


def _read_config(path: str | Path) -> dict:
    """s3prl's training settings; a missing or malformed file is a :class:`UsageError`."""
    try:
        settings = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UsageError(f"--config {path} is not valid yaml: {error}") from error
    if not isinstance(settings, dict):
        raise UsageError(f"--config {path} must be a yaml mapping of s3prl's training settings")
    return settings


def main(args: argparse.Namespace) -> int:
    """Run ``semisupcon s3prl-eval``; errors follow :mod:`semisupcon_recipe.cli_options`."""
    from semisupcon_recipe.exported import read_export_record
    from semisupcon_recipe.evaluation.tasks import TasksFileError, check_manifests_exist, load_tasks_file

    settings = _read_config(args.config)
    _, tasks = load_tasks_file(args.tasks)
    if args.task:
        unknown = sorted(set(args.task) - {task.name for task in tasks})
        if unknown:
            raise TasksFileError(f"{args.tasks} has no task(s) {unknown}; it has {[task.name for task in tasks]}")
        tasks = [task for task in tasks if task.name in args.task]
    check_manifests_exist(tasks, args.tasks)
    read_export_record(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = args.device
    results = {"model": str(args.model), "settings": settings, "command": args.command_line, "tasks": {}}
    for task in tasks:
        entry = {"kind": task.kind}
        if task.kind in SUPPORTED_KINDS:
            print(f"s3prl-eval: {task.name} ({task.kind}) on {device}")
            entry.update(run_s3prl_task(task, str(args.model), out, settings, device))
        else:
            entry["skipped"] = f"{task.kind} tasks are not supported by s3prl's scene problems"
        results["tasks"][task.name] = entry
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    print(f"s3prl-eval: results in {out / 'results.md'}")
    return 0
