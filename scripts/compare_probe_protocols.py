#!/usr/bin/env python3
"""Compare the probe protocols on the encoders of a finished ``semisupcon demo`` run.

    python scripts/compare_probe_protocols.py --demo demo_output

For every pretraining seed of both demo models and every multi-class or multi-label
probe task of the demo's ``tasks.yaml``, three test scores on the same cached features
(the demo's feature cache, so no encoder runs when it is complete):

- ``tuned``: what ``semisupcon evaluate`` (default protocol) wrote for the demo, read
  from ``<demo>/eval/<model>/<seed>/results.json``;
- ``paper``: the paper preset (``hparams/probe/paper.yaml``, its probe seed the demo's);
- ``sklearn``: scikit-learn's logistic regression on standardised track embeddings
  with ``C`` chosen on the validation split
  (:func:`semisupcon_recipe.probe_tuning.logistic_regression_reference`).

Prints one markdown table (points, mean ± std over pretraining seeds) and writes it
with every score to ``<out>/protocols.json`` (``--out``, default
``<demo>/protocols``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
from semisupcon_recipe.cli_options import default_device
from semisupcon_recipe.evaluation.probing import probe_data, task_data
from semisupcon_recipe.evaluation.tasks import load_tasks_file, parse_settings
from semisupcon_recipe.files import write_json
from semisupcon_recipe.probe_tuning import logistic_regression_reference

REPO = Path(__file__).resolve().parents[1]
MODELS = ("ssl", "semisupcon")
PROTOCOLS = ("tuned", "paper", "sklearn")


def paper_settings(settings):
    """The demo's settings with the training block replaced by the paper preset."""
    with open(REPO / "hparams" / "probe" / "paper.yaml", encoding="utf-8") as stream:
        training = load_hyperpyyaml(stream)
    return parse_settings({"training": training, "features": settings.features, "heads": settings.heads,
                           "seeds": settings.seeds}, "hparams/probe/paper.yaml")


def compare(demo: Path, out: Path, device: str) -> dict:
    """Scores per task, model, protocol and pretraining seed."""
    settings, tasks = load_tasks_file(demo / "tasks.yaml")
    paper = paper_settings(settings)
    tasks = [task for task in tasks if task.kind in ("multiclass", "multilabel")]
    seeds = sorted(int(folder.name) for folder in (demo / "eval" / "ssl").iterdir() if folder.name.isdigit())
    scores = {task.name: {model: {protocol: [] for protocol in PROTOCOLS} for model in MODELS} for task in tasks}
    for model in MODELS:
        for seed in seeds:
            encoder = load_encoder_from_checkpoint(demo / "models" / model / str(seed))
            evaluated = json.loads((demo / "eval" / model / str(seed) / "results.json").read_text())
            for task in tasks:
                data, _ = task_data(encoder, task, settings, demo / "features", device)
                by_name = next(entry for entry in evaluated["tasks"] if entry["name"] == task.name)
                assert evaluated["protocol"] == "tuned", f"{demo} was probed with the {evaluated['protocol']} protocol"
                row = scores[task.name][model]
                row["tuned"].append(by_name["heads"]["linear"]["test"][task.select_on]["mean"])
                runs = probe_data(data, task, paper, out / "runs" / model / str(seed) / task.name, device, ["linear"])
                row["paper"].append(float(np.mean([run["test"][task.select_on] for run in runs["linear"]])))
                row["sklearn"].append(logistic_regression_reference(data, task.select_on)["test"])
                print(f"{model} seed {seed} {task.name}: " + ", ".join(
                    f"{protocol} {100 * row[protocol][-1]:.1f}" for protocol in PROTOCOLS), flush=True)
    return {"demo": str(demo), "seeds": seeds, "metrics": {task.name: task.select_on for task in tasks},
            "scores": scores}


def markdown(results: dict) -> str:
    """One row per task and model: the three protocols and tuned minus sklearn, in points."""
    lines = ["| task | metric | model | tuned (`semisupcon evaluate`) | paper preset | scikit-learn LR | tuned - LR |",
             "|---|---|---|---|---|---|---|"]
    for task, by_model in results["scores"].items():
        for model, by_protocol in by_model.items():
            cells = [f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}" for values in by_protocol.values()]
            gap = 100 * (np.mean(by_protocol["tuned"]) - np.mean(by_protocol["sklearn"]))
            lines.append(f"| {task} | {results['metrics'][task]} | {model} | {' | '.join(cells)} | {gap:+.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", required=True, help="output folder of a finished `semisupcon demo`")
    parser.add_argument("--out", help="where the paper-preset runs and protocols.json go (default DEMO/protocols)")
    parser.add_argument("--device", help="where the encoders and probes run (default: cuda when available, else cpu)")
    args = parser.parse_args(argv)
    demo = Path(args.demo)
    if not (demo / "tasks.yaml").is_file() or not (demo / "eval" / "ssl").is_dir():
        print(f"{demo} is not a finished `semisupcon demo` output (tasks.yaml, eval/ssl/<seed>/)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else demo / "protocols"
    results = compare(demo, out, args.device or default_device())
    table = markdown(results)
    write_json(out / "protocols.json", {**results, "table": table})
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
