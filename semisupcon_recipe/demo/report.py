"""The demo's ``report.md`` and ``results.json``: scores of every model and baseline, the
paired SemiSupCon - SSL-only differences with their intervals, the supervision
diagnostics, and the exact commands."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from semisupcon_recipe.demo.settings import ROBUSTNESS_TASK, TITLES, DemoSettings, labeled_clips_task, probe_labels
from semisupcon_recipe.demo.statistics import paired_difference


def main_metric(task: dict) -> tuple[str, list[float]]:
    """The selection metric of a task and its test scores over probe runs."""
    head = task["heads"]["linear"]
    metric = task["select_on"]
    return metric, [run["test"][metric] for run in head["runs"]]


def score_rows(
    results: dict[str, dict[int, dict]], seeds: Sequence[int], models: Sequence[str], pair: Sequence[str], settings: DemoSettings
) -> list[dict]:
    """Per probe task of ``settings`` (:func:`~.settings.probe_labels`; the supervised label's
    row marked ``supervised``): every model's mean, std and per-seed scores, and the paired
    difference ``pair[1] - pair[0]`` (:func:`~semisupcon_recipe.demo.statistics.paired_difference`)."""
    import numpy as np

    first, second = pair
    rows = []
    for label in probe_labels(settings):
        row = {"task": label, "supervised": label == settings.supervised_label}
        for model in models:
            scores = []
            for seed in seeds:
                task = next(t for t in results[model][seed]["tasks"] if t["name"] == label)
                row["metric"], values = main_metric(task)
                scores.append(float(np.mean(values)))
            row[model] = {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "per_seed": scores}
        row["paired"] = paired_difference(row[first]["per_seed"], row[second]["per_seed"])
        row["difference"] = row["paired"]["mean"]
        rows.append(row)
    return rows


def _score_cell(summary: dict) -> str:
    if len(set(summary["per_seed"])) == 1:  # one seed, or a model without training randomness
        return f"{100 * summary['mean']:.1f}"
    return f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f}"


def score_table(rows: list[dict], models: Sequence[str]) -> str:
    """Markdown: one row per model (baselines first), one column per probe task.

    Example
    -------
    >>> summary = {"mean": 0.5, "std": 0.1, "per_seed": [0.4, 0.6]}
    >>> row = {"task": "key", "supervised": True, "metric": "accuracy", "ssl": summary}
    >>> print(score_table([row], ["ssl"]))
    | model | **key** (supervised), accuracy |
    |---|---|
    | SSL-only | 50.0 ± 10.0 |
    <BLANKLINE>
    """
    header = [f"**{row['task']}** (supervised), {row['metric']}" if row["supervised"] else f"{row['task']}, {row['metric']}"
              for row in rows]
    lines = ["| model | " + " | ".join(header) + " |", "|---" * (len(rows) + 1) + "|"]
    lines += [f"| {TITLES[model]} | " + " | ".join(_score_cell(row[model]) for row in rows) + " |" for model in models]
    return "\n".join(lines) + "\n"


def difference_table(rows: list[dict], pair: Sequence[str]) -> str:
    """Markdown: per probe task, the per-seed differences ``pair[1] - pair[0]``, their mean,
    the 95 % paired t interval over seeds and the reading (higher / lower / within seed spread).

    Example
    -------
    >>> paired = {"per_seed": [0.05, 0.07], "mean": 0.06, "low": -0.067, "high": 0.187, "reading": "within seed spread"}
    >>> row = {"task": "key", "supervised": True, "metric": "accuracy", "paired": paired}
    >>> print(difference_table([row], ["ssl", "semisupcon"]).splitlines()[-1])
    | **key** (supervised) | accuracy | +5.0 +7.0 | +6.0 | [-6.7, +18.7] | within seed spread |
    """
    first, second = (TITLES[model] for model in pair)
    lines = [
        f"| probe task | metric | {second} - {first}, per seed | mean | 95 % interval (paired t, over seeds) | reading |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        paired = row["paired"]
        name = f"**{row['task']}** (supervised)" if row["supervised"] else row["task"]
        per_seed = " ".join(f"{100 * value:+.1f}" for value in paired["per_seed"])
        interval = "n/a (one seed)" if math.isnan(paired["low"]) else f"[{100 * paired['low']:+.1f}, {100 * paired['high']:+.1f}]"
        lines.append(f"| {name} | {row['metric']} | {per_seed} | {100 * paired['mean']:+.1f} | {interval} | {paired['reading']} |")
    return "\n".join(lines) + "\n"


def results_section(rows: list[dict], models: Sequence[str], pair: Sequence[str]) -> str:
    """The score table followed by the paired-difference table."""
    return f"{score_table(rows, models)}\n{difference_table(rows, pair)}"


def curve_rows(curve: dict[str, dict[int, dict[int, dict]]], seeds: Sequence[int], pair: Sequence[str], settings: DemoSettings) -> list[dict]:
    """The compute curve of one pair: :func:`score_rows` at every budget, each row with its ``steps``.

    ``curve`` maps model -> seed -> optimizer steps -> ``semisupcon evaluate`` results.
    """
    budgets = sorted(curve[pair[0]][seeds[0]])
    return [{"steps": steps, **row}
            for steps in budgets
            for row in score_rows({model: {seed: curve[model][seed][steps] for seed in seeds} for model in pair}, seeds, pair, pair, settings)]


def curve_table(rows: list[dict], pair: Sequence[str]) -> str:
    """Markdown: one row per budget and probe task, both models' mean ± std and their paired difference.

    Example
    -------
    >>> paired = {"per_seed": [0.05, 0.07], "mean": 0.06, "low": 0.01, "high": 0.11, "reading": "higher"}
    >>> row = {"steps": 300, "task": "key", "supervised": True, "metric": "accuracy", "paired": paired,
    ...        "ssl": {"mean": 0.4, "std": 0.01, "per_seed": [0.39, 0.41]},
    ...        "semisupcon": {"mean": 0.46, "std": 0.02, "per_seed": [0.44, 0.48]}}
    >>> print(curve_table([row], ["ssl", "semisupcon"]).splitlines()[-1])
    | 300 | **key** (supervised) | accuracy | 40.0 ± 1.0 | 46.0 ± 2.0 | +6.0 | [+1.0, +11.0] | higher |
    """
    first, second = pair
    lines = [
        f"| optimizer steps | probe task | metric | {TITLES[first]} | {TITLES[second]} | {TITLES[second]} - {TITLES[first]}, mean "
        "| 95 % interval (paired t, over seeds) | reading |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        paired = row["paired"]
        name = f"**{row['task']}** (supervised)" if row["supervised"] else row["task"]
        interval = "n/a (one seed)" if math.isnan(paired["low"]) else f"[{100 * paired['low']:+.1f}, {100 * paired['high']:+.1f}]"
        lines.append(f"| {row['steps']} | {name} | {row['metric']} | {_score_cell(row[first])} | {_score_cell(row[second])} "
                     f"| {100 * paired['mean']:+.1f} | {interval} | {paired['reading']} |")
    return "\n".join(lines) + "\n"


def compute_curve_section(curve: dict) -> str:
    """The report's part on ``--budgets`` (empty without it): a curve table per pair of models."""
    if not curve:
        return ""
    budgets = ", ".join(str(steps) for steps in curve["budgets"])
    tables = "\n".join(curve_table(table["rows"], table["pair"]) for table in curve["tables"])
    return f"""
## Compute curve (`--budgets`)

Each pretraining ran to {budgets} optimizer steps, one run resumed from budget to
budget, and was probed at each (probes in `eval/<model>/<seed>/steps_<N>`); the tables
above are those of the largest budget. Plot: `plots/compute_curve.png`.

{tables}"""


def diagnostics_table(diagnostics: dict[str, dict[int, dict]], label: str) -> str:
    """Markdown: per model, seed means of the supervision diagnostics (``-`` where a model has none);
    ``label`` is the supervised label type, whose memorisation probe is ``<label>_on_labeled_clips``."""
    import numpy as np

    def mean(model: str, *keys: str) -> float | None:
        values = []
        for record in diagnostics[model].values():
            for key in keys:
                record = record.get(key) if isinstance(record, dict) else None
            if record is not None:
                values.append(record)
        return float(np.mean(values)) if values else None

    def cell(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
        return "-" if value is None else f"{scale * value:.{digits}f}"

    lines = [
        "| model | label-derived positives per labeled view | their share of its positives | label-derived share of a batch's positives "
        f"| draws per labeled clip (min / median / max) | {label} probe: labeled clips (`{labeled_clips_task(label)}`) / held-out clips / gap |",
        "|---|---|---|---|---|---|",
    ]
    for model in diagnostics:
        draws = "-" if mean(model, "draws", "max") is None else " / ".join(
            cell(mean(model, "draws", name), digits=1) for name in ("min", "median", "max"))
        memorised = " / ".join(cell(mean(model, "memorisation", name), 100, 1) for name in ("labeled_clips", "held_out", "gap"))
        lines.append(
            f"| {TITLES[model]} | {cell(mean(model, 'positives', 'label_positives_per_labeled_anchor'))} "
            f"| {cell(mean(model, 'positives', 'label_share_per_labeled_anchor'))} "
            f"| {cell(mean(model, 'positives', 'label_share_per_batch'))} | {draws} | {memorised} |"
        )
    return "\n".join(lines) + "\n"


def commands_block(out: Path, settings: DemoSettings, command: str, pretraining_commands: Sequence[str]) -> str:
    """The command of the demo, then what it runs step by step (each pretraining, the probes;
    with ``--budgets``, how each pretraining reaches the largest budget and the probes on the way)."""
    first = settings.seeds[0]
    probes = [
        "# MODEL: ssl, semisupcon, random (the encoder at initialisation, written by the demo); S: seed",
        f"semisupcon evaluate --model {out}/models/MODEL/S --tasks {out}/tasks.yaml --out {out}/eval/MODEL/S",
    ]
    if settings.budgets:
        epochs = ", then ".join(str(steps // settings.batches_per_epoch) for steps in sorted(settings.budgets))
        probes = [
            f"# --budgets: each pretraining above runs with --number_of_epochs={epochs} (the same folder: "
            "more epochs resume), probed after each; MODEL: a pretrained model, S: seed, N: optimizer steps reached",
            f"semisupcon evaluate --model {out}/models/MODEL/S --tasks {out}/tasks.yaml --out {out}/eval/MODEL/S/steps_N",
            "# RANDOM: random (the encoder at initialisation, written by the demo)",
            f"semisupcon evaluate --model {out}/models/RANDOM/S --tasks {out}/tasks.yaml --out {out}/eval/RANDOM/S",
        ]
    return "\n".join([
        command,
        "",
        "# what it runs, step by step: each pretraining (from the repository root), then its probes",
        *pretraining_commands,
        *probes,
        f"semisupcon evaluate --model {out}/models/handcrafted --tasks {out}/tasks.yaml --out {out}/eval/handcrafted/{first}",
        f"semisupcon robustness --model {out}/models/ssl/{first} {out}/models/semisupcon/{first} "
        f"--tasks {out}/tasks.yaml --task {ROBUSTNESS_TASK} "
        f"--corruptions {' '.join(settings.corruptions)} --severities {' '.join(map(str, settings.severities))} "
        f"--out {out}/robustness",
    ])


def write_report(out: Path, settings: DemoSettings, sections: dict, record: dict) -> None:
    """``report.md`` (from ``sections``: ``results``, ``ssl_mix``, ``compute_curve``, ``diagnostics``, ``robustness``,
    ``determinism``, ``commands``) and ``results.json`` (``record`` plus the settings)."""
    seeds = ", ".join(str(seed) for seed in settings.seeds)
    label = settings.supervised_label
    unnamed = [name for name in probe_labels(settings) if name != label]
    unnamed_text = f"{', '.join(unnamed[:-1])} and {unnamed[-1]}"
    control = (
        f"\n**Control run (`--label-control`):** the SemiSupCon column was trained with every {label}\n"
        "label replaced by the clip's own ID: same sampling, same-clip positives only.\n"
        if settings.label_control else ""
    )
    sampling = (
        "each labeled clip drawn beside one of its positives (`labeled_sampling: pairs`)" if settings.labeled_sampling == "pairs"
        else "labeled clips drawn uniformly (`labeled_sampling: uniform`)"
    )
    report = f"""# SemiSupCon demo report

SSL-only vs SemiSupCon, same audio, steps and augmentations; SemiSupCon also sees the
{label} labels of {settings.labeled_fraction:.0%} of the pretraining clips (b_s = {settings.labeled_share}),
{sampling}; a label-derived positive weighs {settings.label_weight:g}, a same-clip one 1.
Frozen encoders, linear probes (tuned protocol: standardised inputs, weight decay
chosen on validation); test scores in %, mean ± std over pretraining seeds
{seeds}. The supervised label type is **{label}**; {unnamed_text} were never
named by the supervision. Baselines, probed the same way: handcrafted features
(MFCC + chroma + spectral-contrast statistics, librosa; no training) and the encoder as
its SSL-only pretraining starts (random initialisation, same seeds).
{control}
{sections['results']}
"higher" / "lower": the 95 % interval of the paired differences over seeds excludes 0;
otherwise "within seed spread" (always with one seed).
{sections['ssl_mix']}{sections['compute_curve']}
## Supervision diagnostics

Label-derived positives: the objective's statistics on the logged steps (first step and
every `log_interval` steps), means over epochs and seeds. Draws: how many times each
labeled clip was drawn in the whole pretraining (the run's sampler replayed). {label.capitalize()} probe
on labeled clips: the {label} probe (trained on the probe train split) tested on the labeled
pretraining clips vs on held-out test clips; memorising the labeled subset shows as a
larger gap than the baselines'.

{sections['diagnostics']}
The {ROBUSTNESS_TASK} probe under corruptions (seed {settings.seeds[0]}): see `robustness/robustness.md`
and `robustness/plots/`.

{sections['robustness']}
Plots: `plots/training_curves.png`, `plots/target_matrix.png`, `plots/embedding_map.png`,
`robustness/plots/<corruption>.png`.

Settings: {json.dumps(asdict(settings))}

Determinism: {sections['determinism']}

Wall time: {record['seconds'] / 60:.1f} min.

## Commands

```
{sections['commands']}
```
"""
    from semisupcon_recipe.files import atomic_write_text

    atomic_write_text(out / "report.md", report)
    atomic_write_text(out / "results.json", json.dumps({**record, "settings": asdict(settings)}, indent=1))


def ssl_mix_section(tables: Sequence[str], label: str) -> str:
    """The report's part on ``--ssl-objective`` (empty without it); ``label``: the supervised label type."""
    if not tables:
        return ""
    return f"""
## Mixed with an SSL method (`--ssl-objective`)

SpeechBrain's BEST-RQ on a small Conformer, alone and with the SemiSupCon loss on the
same {label} labels (same data, batches, steps and augmentations as above; only encoder and
objective differ).

""" + "\n".join(tables)
