"""Reports of probe results: summaries over seeds, markdown tables and robustness plots.

``results.md`` of ``semisupcon evaluate`` (:func:`results_markdown`) and
``robustness.md`` / ``plots/<corruption>.png`` of ``semisupcon robustness``
(:func:`robustness_markdown`, :func:`plot_robustness`) are written from the results
dictionaries alone, so a report can be rebuilt from its ``.json`` file.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Mapping, Sequence


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


def results_markdown(results: Mapping) -> str:
    """The ``results.md`` of :func:`semisupcon_recipe.evaluation.probing.evaluate_encoder`: one row per task, head and metric."""
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


def robustness_markdown(results: Mapping) -> str:
    """The ``robustness.md`` of :func:`semisupcon_recipe.evaluation.robustness.robustness`: one table per corruption."""
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

