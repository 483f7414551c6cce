"""``semisupcon demo``: the whole method end to end on built-in synthesized music.

1. Generate (once, cached) the demo dataset: phrases in 24 keys played by mixes of
   instrument families, with tempo and recording nuisances (:mod:`.dataset`).
2. Pretrain two encoders per seed with the same audio, steps and augmentations:
   SSL-only (b_s = 0) and SemiSupCon (b_s = 0.25, key labels on 5 % of the clips).
3. Probe both frozen encoders (linear head, early stopping) on key (the supervised
   label type), mode, tempo and instruments (label types the supervision never named).
4. A robustness check: the key probe under corruptions of increasing severity.
   With ``--ssl-objective bestrq`` steps 2-3 also run SpeechBrain's BEST-RQ on a small
   Conformer, alone and mixed with SemiSupCon on the same key labels
   (:mod:`semisupcon_recipe.ssl_mixing`), and the report gets a second table.
5. Write the report: ``report.md`` and ``results.json`` (table over seeds, the exact
   commands), ``plots/`` (training curves, the target matrix of one batch, a 2-D map
   of the embeddings coloured by key, score vs corruption severity).

Everything is cached: rerunning reuses the data, the finished pretrainings (SpeechBrain
checkpoints) and the extracted features.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

from semisupcon_recipe.cli_options import add_device_argument

logger = logging.getLogger(__name__)

PRETRAIN_YAML = Path(__file__).with_name("pretrain.yaml")
BESTRQ_YAML = Path(__file__).with_name("pretrain_bestrq.yaml")
MODELS = {"ssl": "SSL-only", "semisupcon": "SemiSupCon"}
# --ssl-objective: name -> (the method alone, the method mixed with SemiSupCon)
SSL_MIX_MODELS = {"bestrq": {"bestrq": "BEST-RQ", "bestrq_semisupcon": "BEST-RQ + SemiSupCon"}}
TITLES = {**MODELS, **{name: title for pair in SSL_MIX_MODELS.values() for name, title in pair.items()}}
SUPERVISED_MODELS = ("semisupcon", "bestrq_semisupcon")  # the models that see the key labels
SUPERVISED_LABEL = "key"
PROBE_LABELS = ("key", "mode", "tempo", "instruments")
CONTROL_MANIFEST = "labeled_control.csv"  # in models/semisupcon/, for --label-control


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of one demo run (every field is a command-line option too)."""

    num_clips: int = 4800
    clip_seconds: float = 3.0
    probe_clips: tuple[int, int, int] = (480, 120, 240)
    labeled_fraction: float = 0.05
    labeled_share: float = 0.25
    temperature: float = 0.2
    label_control: bool = False
    ssl_objective: str | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_size: int = 32
    epochs: int = 6
    batches_per_epoch: int = 50
    corruptions: tuple[str, ...] = ("chain", "reverb")
    severities: tuple[int, ...] = (0, 2, 4)
    data_seed: int = 0
    extra_overrides: dict = field(default_factory=dict)
    ssl_mix_overrides: dict = field(default_factory=dict)


# The settings a finished pretraining depends on (epochs excluded: more epochs resume).
PRETRAINING_SETTINGS = (
    "num_clips", "clip_seconds", "labeled_fraction", "labeled_share", "temperature", "label_control",
    "batch_size", "batches_per_epoch", "data_seed", "extra_overrides", "ssl_mix_overrides",
)

QUICK = DemoSettings(
    num_clips=48, probe_clips=(24, 12, 12), labeled_fraction=0.25, seeds=(0,), batch_size=8, epochs=1,
    batches_per_epoch=2, corruptions=("reverb",), severities=(0, 4),
    extra_overrides={"tdnn_channels": [16, 16, 16, 16, 32], "embedding_dim": 32, "projection_dim": 16},
    ssl_mix_overrides={"n_mels": 20, "front_end_channels": [8, 4], "d_model": 16, "nhead": 2, "num_layers": 1,
                       "d_ffn": 32, "projection_dim": 8, "codebook_size": 32},
)


# ----------------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------------
def generate_data(settings: DemoSettings, folder: Path) -> dict[str, Path]:
    """Step 1: the cached demo dataset."""
    from semisupcon_recipe.demo.dataset import generate_dataset

    return generate_dataset(
        folder, num_clips=settings.num_clips, clip_seconds=settings.clip_seconds, seed=settings.data_seed,
        labeled_fraction=settings.labeled_fraction, probe_clips=settings.probe_clips, progress=True,
        num_workers=min(2, os.cpu_count() or 1),
    )


def pretrain(settings: DemoSettings, model: str, seed: int, manifests: dict, output: Path, device: str, threads: int = 0) -> Path:
    """Step 2: one pretraining run (resumes, or returns at once when finished).

    ``threads`` > 0 sets torch's intra-op threads (one per process when runs go in parallel).
    """
    import torch
    from hyperpyyaml import load_hyperpyyaml

    from semisupcon_recipe.pretraining import run_pretraining

    if threads:
        torch.set_num_threads(threads)
    if model in SUPERVISED_MODELS and settings.label_control:
        clip_id_labels(manifests[f"labeled_{SUPERVISED_LABEL}"], output.parent / CONTROL_MANIFEST)
    yaml_file, overrides = pretraining_overrides(settings, model, seed, manifests, output)
    with open(yaml_file, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, overrides)
    run_opts = {"device": device, "tqdm_colored_bar": False, "noprogressbar": bool(threads)}
    run_pretraining(str(yaml_file), run_opts, overrides, hparams)
    return output


def pretraining_overrides(settings: DemoSettings, model: str, seed: int, manifests: dict, output: Path) -> tuple[Path, dict]:
    """The yaml of one demo pretraining and every override the demo gives it.

    :func:`pretrain` runs exactly this, and the report prints it as a recipe command
    (:func:`pretraining_command`), so the printed commands reproduce the report's models.

    Example
    -------
    >>> manifests = {"pretrain": "data/pretrain.csv", "labeled_key": "data/labeled_key.csv"}
    >>> yaml_file, overrides = pretraining_overrides(DemoSettings(), "semisupcon", 1, manifests, Path("models/semisupcon/1"))
    >>> yaml_file.name, overrides["labeled_manifest"], overrides["batch_size"], overrides["number_of_epochs"]
    ('pretrain.yaml', 'data/labeled_key.csv', 32, 6)
    """
    labeled = None
    if model in SUPERVISED_MODELS:
        labeled = manifests[f"labeled_{SUPERVISED_LABEL}"]
        if settings.label_control:
            labeled = output.parent / CONTROL_MANIFEST
    yaml_file, sizes = (PRETRAIN_YAML, settings.extra_overrides) if model in MODELS else (BESTRQ_YAML, settings.ssl_mix_overrides)
    return yaml_file, {
        "seed": seed,
        "output_folder": str(output),
        "unlabeled_manifest": str(manifests["pretrain"]),
        "labeled_manifest": str(labeled) if labeled else None,
        "labeled_share": settings.labeled_share if model in SUPERVISED_MODELS else 0.0,
        "temperature": settings.temperature,
        "batch_size": settings.batch_size,
        "number_of_epochs": settings.epochs,
        "batches_per_epoch": settings.batches_per_epoch,
        **({"semisupcon_weight": 0.0} if model == "bestrq" else {}),  # BEST-RQ alone
        **sizes,
    }


def pretraining_command(yaml_file: Path, overrides: dict, device: str, threads: int) -> str:
    """The recipe command that runs one demo pretraining as :func:`pretrain` does.

    Example
    -------
    >>> print(pretraining_command(PRETRAIN_YAML, {"seed": 0, "labeled_manifest": None, "tdnn_channels": [16, 32]}, "cpu", 1))
    OMP_NUM_THREADS=1 python recipes/Generic/pretrain/train.py semisupcon_recipe/demo/pretrain.yaml --seed=0 '--tdnn_channels=[16, 32]' --device=cpu
    """
    words = ["python", "recipes/Generic/pretrain/train.py", str(yaml_file.relative_to(yaml_file.parents[2]))]
    words += [f"--{key}={json.dumps(value) if isinstance(value, (list, dict)) else value}"
              for key, value in overrides.items() if value is not None]
    prefix = f"OMP_NUM_THREADS={threads} " if threads else ""  # the demo's parallel runs use one thread each
    return prefix + shlex.join([*words, f"--device={device}"])


def clip_id_labels(manifest: Path, path: Path) -> Path:
    """A copy of ``manifest`` whose label is each clip's own ID (the ``--label-control`` run).

    Every label is unique, so the target matrix has the same-clip positives only, as in
    SSL, while the sampler still fills ``b_s`` of every batch from the small labeled pool:
    the control separates what the labels add from what re-sampling that pool does.

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.manifest import read_manifest, write_manifest
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = [{"ID": "a", "duration": 3, "wav": "a.wav", "labels": "C major"},
    ...         {"ID": "b", "duration": 3, "wav": "b.wav", "labels": "C major"}]
    >>> write_manifest(folder / "key.csv", rows)
    2
    >>> control = clip_id_labels(folder / "key.csv", folder / "control.csv")
    >>> [row["labels"] for row in read_manifest(control).values()]
    ['a', 'b']
    """
    from semisupcon_recipe.manifest import read_manifest, write_manifest

    rows = [{**row, "ID": item_id, "labels": item_id} for item_id, row in read_manifest(manifest).items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(path, rows)
    return path


class PretrainingCacheError(ValueError):
    """``--out`` holds pretrainings made with other settings."""


def check_pretraining_record(settings: DemoSettings, models_folder: Path) -> None:
    """Refuse to reuse pretrainings that ran with other settings (else record these).

    Finished pretrainings are reused by folder, so ``--out`` must not mix settings. More
    epochs are allowed: training then resumes where it stopped, with the same result as a
    run started with that many epochs.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_pretraining_record(DemoSettings(), folder)
    >>> check_pretraining_record(DemoSettings(epochs=9), folder)
    >>> try:
    ...     check_pretraining_record(DemoSettings(labeled_share=0.5), folder)
    ... except PretrainingCacheError as error:
    ...     print(str(error).split("(")[1].split(")")[0])
    labeled_share: 0.25 there, 0.5 asked
    >>> legacy = Path(tempfile.mkdtemp())
    >>> (legacy / "ssl" / "0" / "save" / "CKPT+2026-01-01+00-00-00+00").mkdir(parents=True)
    >>> try:
    ...     check_pretraining_record(DemoSettings(), legacy)
    ... except PretrainingCacheError as error:
    ...     print("without a settings record" in str(error))
    True
    """
    from semisupcon_recipe.settings_record import describe_differences, read_record, write_record

    wanted = {key: value for key, value in asdict(settings).items() if key in PRETRAINING_SETTINGS}
    wanted = json.loads(json.dumps(wanted))
    record = models_folder / "pretraining_settings.json"
    found = read_record(record)
    if found is not None:
        details = describe_differences(found, wanted)
        if details:
            raise PretrainingCacheError(
                f"{models_folder} holds pretrainings with other settings ({details}); "
                f"pass another --out, or delete {models_folder} to pretrain again"
            )
        return
    if next(models_folder.glob("*/*/save/CKPT+*"), None) is not None:
        raise PretrainingCacheError(
            f"{models_folder} holds pretrainings without a settings record (an older demo); "
            f"pass another --out, or delete {models_folder} to pretrain again"
        )
    write_record(record, wanted)


def pretrain_models(
    settings: DemoSettings, seed: int, manifests: dict, out: Path, device: str, parallel: bool, models: Sequence[str] = tuple(MODELS)
) -> dict[str, Path]:
    """Step 2 for one seed: a pair of models (SSL-only and SemiSupCon), side by side in two processes on CPU.

    Two single-threaded processes use two cores better than one process with two
    threads for a model this small; on a GPU (or with ``parallel=False``) the runs go one
    after the other in this process.
    """
    import multiprocessing

    outputs = {model: out / "models" / model / str(seed) for model in models}
    if not parallel:
        return {model: pretrain(settings, model, seed, manifests, outputs[model], device) for model in models}
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=pretrain, args=(settings, model, seed, manifests, outputs[model], device, 1))
        for model in models
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [model for model, process in zip(models, processes) if process.exitcode != 0]
    if failed:
        raise RuntimeError(f"pretraining of {failed} (seed {seed}) failed; see {out / 'models'}/<model>/{seed}/log.txt")
    return outputs


def write_tasks_file(settings: DemoSettings, manifests: dict, path: Path) -> Path:
    """The probing protocol of the demo as a tasks file of ``semisupcon evaluate``."""
    kinds = {"key": "multiclass", "mode": "multiclass", "tempo": "multiclass", "instruments": "multilabel"}
    tasks = "\n".join(
        f"    - {{name: {label}, kind: {kinds[label]}, train: {manifests[f'probe_{label}_train']}, "
        f"valid: {manifests[f'probe_{label}_valid']}, test: {manifests[f'probe_{label}_test']}}}"
        for label in PROBE_LABELS
    )
    path.write_text(
        f"""# Probing protocol of the demo: the tuned protocol (semisupcon_recipe.probe_tuning,
# the grid of hparams/probe/tuned.yaml).
training:
    protocol: tuned
    max_iterations: 1000
    grid:
        weight_decay: [0.000001, 0.000003, 0.00001, 0.00003, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
features: {{chunk_len: null, max_chunks: 64, extract_batch_size: 64, shard_size: 256, num_workers: 0, corruption_seed: 0}}
heads:
    linear: !name:semisupcon_recipe.probe.ProbeHead
        hidden_size: 0
seeds: [0]
tasks:
{tasks}
""",
        encoding="utf-8",
    )
    return path


# ----------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------
def main_metric(task: dict) -> tuple[str, list[float]]:
    """The selection metric of a task and its test scores over probe runs."""
    head = task["heads"]["linear"]
    metric = task["select_on"]
    return metric, [run["test"][metric] for run in head["runs"]]


def results_table(results: dict[str, dict[int, dict]], seeds: Sequence[int], models: Sequence[str] = tuple(MODELS)) -> tuple[str, list[dict]]:
    """Markdown table (mean ± std over seeds) and its rows, per probe task, for a pair of models.

    The difference column is the second model's score minus the first's.
    """
    import numpy as np

    baseline, mixed = models
    rows = []
    for label in PROBE_LABELS:
        row = {"task": label, "supervised": label == SUPERVISED_LABEL}
        for model in models:
            scores = []
            for seed in seeds:
                task = next(t for t in results[model][seed]["tasks"] if t["name"] == label)
                metric, values = main_metric(task)
                scores.append(float(np.mean(values)))
            row["metric"] = metric
            row[model] = {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "per_seed": scores}
        row["difference"] = row[mixed]["mean"] - row[baseline]["mean"]
        rows.append(row)
    lines = [f"| probe task | metric | {TITLES[baseline]} | {TITLES[mixed]} | difference |", "|---|---|---|---|---|"]
    for row in rows:
        name = f"**{row['task']}** (supervised)" if row["supervised"] else row["task"]
        cells = [f"{100 * row[m]['mean']:.1f} ± {100 * row[m]['std']:.1f}" for m in models]
        lines.append(f"| {name} | {row['metric']} | {cells[0]} | {cells[1]} | {100 * row['difference']:+.1f} |")
    return "\n".join(lines) + "\n", rows


def read_training_curve(train_log: Path) -> tuple[list[int], list[float]]:
    """``(optimizer steps, train losses)`` per epoch from a SpeechBrain ``train_log.txt``."""
    steps, losses = [], []
    for line in train_log.read_text(encoding="utf-8").splitlines():
        match = re.search(r"optimizer_step: (\d+) - train loss: ([\d.e+-]+)", line)
        if match:
            steps.append(int(match.group(1)))
            losses.append(float(match.group(2)))
    return steps, losses


def plot_training_curves(runs: dict[str, dict[int, Path]], path: Path) -> Path:
    """Training loss vs optimizer step of every pretraining run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for (model, by_seed), colour in zip(runs.items(), ("tab:blue", "tab:red")):
        for seed, output in by_seed.items():
            steps, losses = read_training_curve(output / "train_log.txt")
            axis.plot(steps, losses, color=colour, alpha=0.8, label=f"{MODELS[model]} (seed {seed})")
    axis.set(xlabel="optimizer step", ylabel="training loss", title="Pretraining")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_target_matrix(labeled_manifest: Path, pretrain_manifest: Path, settings: DemoSettings, path: Path) -> Path:
    """The SemiSupCon target matrix of one mixed batch (same clip + same key)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from semisupcon_recipe.manifest import LabelVocabulary, read_manifest
    from semisupcon_recipe.objectives import target_matrix
    from semisupcon_recipe.sampling import MixedLabelBatchSampler

    labeled = read_manifest(labeled_manifest)
    unlabeled = [item for item in read_manifest(pretrain_manifest) if item not in labeled]
    vocabulary = LabelVocabulary.from_cells("multiclass", [row["labels"] for row in labeled.values()])
    ids = list(labeled) + unlabeled
    sampler = MixedLabelBatchSampler(range(len(labeled)), range(len(labeled), len(ids)), min(settings.batch_size, 16), settings.labeled_share, seed=0)
    batch = next(iter(sampler))
    is_labeled = torch.tensor([index < len(labeled) for index in batch])  # (B,)
    labels = torch.stack([
        vocabulary.encode(labeled[ids[index]]["labels"]) if index < len(labeled) else vocabulary.empty() for index in batch
    ])  # (B,)
    views = 2
    matrix = target_matrix(
        torch.arange(len(batch)).repeat_interleave(views), labels.repeat_interleave(views),
        is_labeled.repeat_interleave(views), supervision="multiclass",
    )  # (V, V)
    figure, axis = plt.subplots(figsize=(5, 4.5))
    axis.imshow(matrix.numpy(), cmap="Greys", vmin=0, vmax=1)
    count = int(is_labeled.sum()) * views
    axis.axhline(count - 0.5, color="tab:red", linewidth=1)
    axis.axvline(count - 0.5, color="tab:red", linewidth=1)
    positives = "same clip only: label control" if settings.label_control else "same clip or same key"
    axis.set(title=f"Target matrix of one batch\n(labeled views first: {positives})", xlabel="view", ylabel="view")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_embedding_map(checkpoints: dict[str, Path], manifest: Path, cache: Path, device: str, path: Path) -> Path:
    """t-SNE maps of the probe test embeddings of each encoder, coloured by key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.manifold import TSNE

    from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
    from semisupcon_recipe.features import FeatureCache
    from semisupcon_recipe.manifest import read_manifest

    rows = read_manifest(manifest)
    figure, axes = plt.subplots(1, len(checkpoints), figsize=(5 * len(checkpoints), 4.5))
    for axis, (model, checkpoint) in zip(np.atleast_1d(axes), checkpoints.items()):
        encoder = load_encoder_from_checkpoint(checkpoint)
        embeddings = FeatureCache(encoder.module, manifest, cache, encoder.clip_len, 64).embeddings(device=device)
        points = embeddings.track_means().numpy()
        keys = [rows[item]["labels"] for item in embeddings.ids]
        names = sorted(set(keys))
        coordinates = TSNE(n_components=2, perplexity=min(30, len(points) - 1), random_state=0).fit_transform(points)
        axis.scatter(coordinates[:, 0], coordinates[:, 1], c=[names.index(k) for k in keys], cmap="hsv", s=12)
        axis.set(title=f"{MODELS[model]}: probe test clips coloured by key", xticks=[], yticks=[])
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(
    out: Path, settings: DemoSettings, table: str, rows: list, robustness: dict, command: str, seconds: float,
    pretraining_commands: Sequence[str], ssl_mix: Sequence[tuple[str, list]] = (),
) -> None:
    """``report.md`` and ``results.json`` (``pretraining_commands``: the exact recipe command of
    every pretraining; ``ssl_mix``: the tables of ``--ssl-objective``)."""
    seeds = ", ".join(str(seed) for seed in settings.seeds)
    control = (
        "\n**Control run (`--label-control`):** the SemiSupCon column was trained with every key\n"
        "label replaced by the clip's own ID: same sampling, same-clip positives only.\n"
        if settings.label_control else ""
    )
    commands = "\n".join([
        command,
        "",
        "# what it runs, step by step: each pretraining (from the repository root), then its probes",
        *pretraining_commands,
        f"semisupcon evaluate --model {out}/models/MODEL/S --tasks {out}/tasks.yaml --out {out}/eval/MODEL/S",
        f"semisupcon robustness --model {out}/models/ssl/{settings.seeds[0]} {out}/models/semisupcon/{settings.seeds[0]} "
        f"--tasks {out}/tasks.yaml --task key "
        f"--corruptions {' '.join(settings.corruptions)} --severities {' '.join(map(str, settings.severities))} "
        f"--out {out}/robustness",
    ])
    report = f"""# SemiSupCon demo report

SSL-only vs SemiSupCon, same audio, steps and augmentations; SemiSupCon also sees the
key labels of {settings.labeled_fraction:.0%} of the pretraining clips (b_s = {settings.labeled_share}).
Frozen encoders, linear probes (tuned protocol: standardised inputs, weight decay
chosen on validation); test scores in %, mean ± std over pretraining seeds
{seeds}. The supervised label type is **key**; mode, tempo and instruments were never
named by the supervision.
{control}
{table}
{ssl_mix_section(ssl_mix)}
Robustness of the key probe (seed {settings.seeds[0]}): see `robustness/robustness.md`
and `robustness/plots/`.

{robustness.get('markdown', '')}
Plots: `plots/training_curves.png`, `plots/target_matrix.png`, `plots/embedding_map.png`,
`robustness/plots/<corruption>.png`.

Settings: {json.dumps(asdict(settings))}

Wall time: {seconds / 60:.1f} min.

## Commands

```
{commands}
```
"""
    (out / "report.md").write_text(report, encoding="utf-8")
    (out / "results.json").write_text(json.dumps({
        "command": command, "settings": asdict(settings), "table": rows, "seconds": round(seconds, 1),
        "ssl_mix_tables": [mixed_rows for _, mixed_rows in ssl_mix],
    }, indent=1), encoding="utf-8")


def ssl_mix_section(ssl_mix: Sequence[tuple[str, list]]) -> str:
    """The report's part on ``--ssl-objective`` (empty without it)."""
    if not ssl_mix:
        return ""
    tables = "\n".join(table for table, _ in ssl_mix)
    return f"""
**Mixed with an SSL method (`--ssl-objective`):** SpeechBrain's BEST-RQ on a small
Conformer, alone and with the SemiSupCon loss on the same key labels (same data,
batches, steps and augmentations as above; only encoder and objective differ).

{tables}"""


# ----------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``semisupcon demo``."""
    parser.add_argument("--out", default="demo_output", help="output folder (data, models, report); reused when rerun")
    parser.add_argument("--quick", action="store_true", help="a tiny run for tests (seconds, not minutes; numbers mean nothing)")
    parser.add_argument("--seeds", type=int, nargs="+", help="pretraining seeds (default 0 1 2)")
    parser.add_argument("--epochs", type=int, help="pretraining epochs of --batches-per-epoch steps (default 6)")
    parser.add_argument("--batches-per-epoch", type=int, help="optimizer steps per pretraining epoch (default 50)")
    parser.add_argument("--num-clips", type=int, help="pretraining clips to synthesize (default 4800)")
    parser.add_argument("--labeled-share", type=float, help="b_s of SemiSupCon: labeled share of every batch (default 0.25)")
    parser.add_argument("--temperature", type=float, help="softmax temperature tau of both models (default 0.2)")
    parser.add_argument(
        "--label-control", action="store_true",
        help="control run: SemiSupCon's labels replaced by clip IDs (same sampling, same-clip positives only)",
    )
    parser.add_argument(
        "--ssl-objective", choices=sorted(SSL_MIX_MODELS),
        help="also pretrain this SpeechBrain SSL method alone and mixed with SemiSupCon (a second table)",
    )
    add_device_argument(parser)


def settings_from_arguments(args: argparse.Namespace) -> DemoSettings:
    """The demo settings: defaults or ``--quick``, then the explicit options."""
    settings = QUICK if args.quick else DemoSettings()
    chosen = {
        "seeds": tuple(args.seeds) if args.seeds else None,
        "epochs": args.epochs,
        "batches_per_epoch": args.batches_per_epoch,
        "num_clips": args.num_clips,
        "labeled_share": args.labeled_share,
        "temperature": args.temperature,
        "label_control": args.label_control or None,
        "ssl_objective": args.ssl_objective,
    }
    return replace(settings, **{name: value for name, value in chosen.items() if value is not None})


def main(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit status (2, with the fix on stderr, when ``--out`` holds other settings)."""
    from semisupcon_recipe.demo.dataset import DatasetCacheError

    try:
        return run_demo(args)
    except (DatasetCacheError, PretrainingCacheError) as error:
        print(f"semisupcon demo: error: {error}", file=sys.stderr)
        return 2


def run_demo(args: argparse.Namespace) -> int:
    """The demo's five steps (see the module docstring); returns 0."""
    from semisupcon_recipe.evaluation.probing import evaluate_encoder
    from semisupcon_recipe.evaluation.robustness import robustness

    logging.basicConfig(level=logging.INFO, format="%(name)s - %(message)s")
    start = time.time()
    settings = settings_from_arguments(args)
    out = Path(args.out).resolve()
    (out / "plots").mkdir(parents=True, exist_ok=True)
    command = "semisupcon demo " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["demo"] else "semisupcon demo"

    print(f"[1/5] data -> {out / 'data'}", flush=True)
    manifests = generate_data(settings, out / "data")
    tasks_file = write_tasks_file(settings, manifests, out / "tasks.yaml")

    check_pretraining_record(settings, out / "models")
    pairs = [tuple(MODELS)] + ([tuple(SSL_MIX_MODELS[settings.ssl_objective])] if settings.ssl_objective else [])
    runs: dict[str, dict[int, Path]] = {model: {} for pair in pairs for model in pair}
    results: dict[str, dict[int, dict]] = {model: {} for pair in pairs for model in pair}
    parallel = args.device == "cpu" and (os.cpu_count() or 1) >= 2
    for pair in pairs:
        for seed in settings.seeds:
            print(f"[2/5] pretraining {' and '.join(TITLES[model] for model in pair)}, seed {seed}"
                  f"{' (in parallel; progress in models/<model>/<seed>/log.txt)' if parallel else ''}", flush=True)
            outputs = pretrain_models(settings, seed, manifests, out, args.device, parallel, pair)
            for model in pair:
                runs[model][seed] = outputs[model]
                print(f"[3/5] probing {TITLES[model]}, seed {seed}", flush=True)
                results[model][seed] = evaluate_encoder(
                    runs[model][seed], tasks_file, out / "eval" / model / str(seed), cache=out / "features",
                    device=args.device, command=command,
                )

    print("[4/5] robustness of the key probe", flush=True)
    first = settings.seeds[0]
    robust = robustness(
        [runs[model][first] for model in MODELS], tasks_file, settings.corruptions, settings.severities,
        out / "robustness", task_name=SUPERVISED_LABEL, head="linear", labels=list(MODELS.values()),
        cache=out / "features", device=args.device, command=command,
    )
    robust_md = (out / "robustness" / "robustness.md").read_text(encoding="utf-8")
    robust_md = re.sub(r"^(#+) ", r"\1## ", robust_md, flags=re.M).replace("](plots/", "](robustness/plots/")

    print("[5/5] report", flush=True)
    table, rows = results_table(results, settings.seeds)
    ssl_mix = [results_table(results, settings.seeds, pair) for pair in pairs[1:]]
    plot_training_curves({model: runs[model] for model in MODELS}, out / "plots" / "training_curves.png")
    labeled_manifest = manifests[f"labeled_{SUPERVISED_LABEL}"]
    if settings.label_control:
        labeled_manifest = out / "models" / "semisupcon" / CONTROL_MANIFEST
    plot_target_matrix(labeled_manifest, manifests["pretrain"], settings, out / "plots" / "target_matrix.png")
    plot_embedding_map(
        {model: runs[model][first] for model in MODELS}, manifests[f"probe_{SUPERVISED_LABEL}_test"],
        out / "features", args.device, out / "plots" / "embedding_map.png",
    )
    pretraining_commands = [
        pretraining_command(*pretraining_overrides(settings, model, seed, manifests, runs[model][seed]), args.device, int(parallel))
        for pair in pairs for seed in settings.seeds for model in pair
    ]
    write_report(out, settings, table, rows, {"markdown": robust_md, **robust}, command, time.time() - start,
                 pretraining_commands, ssl_mix)
    print("\n" + "\n".join([table, *(mixed_table for mixed_table, _ in ssl_mix)]) + f"report: {out / 'report.md'}", flush=True)
    return 0
