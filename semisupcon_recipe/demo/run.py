"""``semisupcon demo``: the whole method end to end on built-in synthesized music.

1. Generate (once, cached) the demo dataset: phrases in 24 keys played by mixes of
   instrument families, with tempo and recording nuisances (:mod:`.dataset`); with
   ``--supervised-label style`` also in 5 styles (``SynthConfig(styles=STYLE_NAMES)``).
2. Pretrain two encoders per seed with the same audio, steps and augmentations:
   SSL-only (b_s = 0) and SemiSupCon (b_s = 0.25, the labels of ``--supervised-label``,
   key by default, on 5 % of the clips, drawn as ``--labeled-sampling`` says, weighted
   ``--label-weight``) (:mod:`.models`). With ``--budgets`` (the compute curve) each run
   is pretrained to the smallest budget, probed, resumed to the next budget, probed
   again, and so on.
3. Probe both frozen encoders and two baselines (handcrafted features, the encoder at
   random initialisation; :mod:`.baselines`) with ``semisupcon evaluate``'s linear
   probes on key, mode, tempo, instruments (and style when the data has it): the
   supervised label type and the ones the supervision never named; and the supervised
   label's probe on the labeled clips (memorisation).
   With ``--ssl-objective bestrq`` steps 2-3 also run SpeechBrain's BEST-RQ on a small
   Conformer, alone and mixed with SemiSupCon on the same labels
   (:mod:`semisupcon_recipe.ssl_mixing`), and the report gets a second table.
4. A robustness check: the key probe under corruptions of increasing severity.
5. Write the report (:mod:`.report`): ``report.md`` and ``results.json`` (tables over
   seeds with paired intervals, supervision diagnostics, the compute curve with
   ``--budgets``, the exact commands), ``plots/``
   (:mod:`.plots`: training curves, the target matrix of one batch, a 2-D map of the
   embeddings by key, score vs corruption severity).

Everything is cached: rerunning reuses the data, the finished pretrainings (SpeechBrain
checkpoints) and the extracted features.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from semisupcon_recipe.cli_options import UsageError, add_device_argument
from semisupcon_recipe.demo.settings import (
    CONTROL_MANIFEST, HANDCRAFTED, MODELS, QUICK, RANDOM_INIT, ROBUSTNESS_TASK, SSL_MIX_MODELS, SUPERVISED_LABELS, TITLES,
    DemoSettings, budget_epochs, labeled_clips_task, probe_labels, synth_config,
)
from semisupcon_recipe.run_logging import STAGE_LOGGER

logger = logging.getLogger(__name__)
stages = logging.getLogger(STAGE_LOGGER)  # one line per stage, on the console and in log.txt


@dataclass
class DemoRun:
    """One demo run's inputs and what its stages produce."""

    settings: DemoSettings
    out: Path
    device: str
    command: str
    manifests: dict = field(default_factory=dict)
    tasks_file: Path | None = None
    pairs: list = field(default_factory=list)  # (SSL model, model with SemiSupCon)
    runs: dict = field(default_factory=dict)  # model -> seed -> model folder
    results: dict = field(default_factory=dict)  # model -> seed -> ``semisupcon evaluate`` results
    curve: dict = field(default_factory=dict)  # --budgets: model -> seed -> optimizer steps -> results
    parallel: bool = False

    def eval_folder(self, model: str, seed: int, steps: int | None = None) -> Path:
        """Where one model's probes go: ``eval/<model>/<seed>``, and ``steps_<N>`` below it for a budget of the curve."""
        folder = self.out / "eval" / model / str(seed)
        return folder if steps is None else folder / f"steps_{steps}"

    def evaluate(self, model: str, seed: int, folder: Path, steps: int | None = None) -> dict:
        """Probe one model folder on the tasks file (``semisupcon evaluate``) and keep the results
        (those of budget ``steps`` of the compute curve when given)."""
        from semisupcon_recipe.evaluation.probing import evaluate_encoder

        result = evaluate_encoder(folder, self.tasks_file, self.eval_folder(model, seed, steps), cache=self.out / "features",
                                  device=self.device, command=self.command)
        return self.keep(model, seed, folder, result, steps)

    def keep(self, model: str, seed: int, folder: Path, result: dict, steps: int | None = None) -> dict:
        """Record one model folder's probe results (the latest budget's are the main table's)."""
        self.runs.setdefault(model, {})[seed] = folder
        self.results.setdefault(model, {})[seed] = result
        if steps is not None:
            self.curve.setdefault(model, {}).setdefault(seed, {})[steps] = result
        return result


def generate_data(settings: DemoSettings, folder: Path) -> dict[str, Path]:
    """Step 1: the cached demo dataset (synthesized with styles when the supervised label is ``style``:
    the config is in ``dataset.json``, so a folder made with the other config is refused)."""
    from semisupcon_recipe.demo.dataset import generate_dataset

    return generate_dataset(
        folder, num_clips=settings.num_clips, clip_seconds=settings.clip_seconds, seed=settings.data_seed,
        labeled_fraction=settings.labeled_fraction, probe_clips=settings.probe_clips, config=synth_config(settings),
        progress=True, num_workers=min(2, os.cpu_count() or 1),
    )


def write_tasks_file(manifests: dict, path: Path, settings: DemoSettings) -> Path:
    """The probing protocol of the demo as a tasks file of ``semisupcon evaluate``: the probe
    tasks (:func:`~.settings.probe_labels`), then the supervised label's probe tested on the
    labeled pretraining clips (a diagnostic, :func:`~.settings.labeled_clips_task`)."""
    from semisupcon_recipe.demo.dataset import LABEL_TYPES

    label, labels = settings.supervised_label, probe_labels(settings)
    splits = {name: [manifests[f"probe_{name}_{split}"] for split in ("train", "valid", "test")] for name in labels}
    entries = [(name, LABEL_TYPES[name], *splits[name]) for name in labels]
    entries.append((labeled_clips_task(label), LABEL_TYPES[label], *splits[label][:2], manifests[f"labeled_{label}"]))
    tasks = "\n".join(
        f"    - {{name: {name}, kind: {kind}, train: {train}, valid: {valid}, test: {test}}}"
        for name, kind, train, valid, test in entries
    )
    path.write_text(
        f"""# Probing protocol of the demo: the tuned protocol (semisupcon_recipe.probe_tuning;
# the full demo uses the grid of hparams/probe/tuned.yaml, --quick a smaller one).
training:
    protocol: tuned
    max_iterations: {settings.probe_max_iterations}
    grid:
        weight_decay: [{", ".join(f"{value:.10f}".rstrip("0").rstrip(".") for value in settings.probe_weight_decays)}]
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
# Stages
# ----------------------------------------------------------------------------------
def announce_pretraining(run: DemoRun, models: Sequence[str], seed: int, budget: str = "") -> None:
    """The console line of step 2 for ``models`` of one seed (``budget``: ", to N steps" on the curve)."""
    where = " (in parallel; progress in models/<model>/<seed>/log.txt)" if run.parallel else ""
    stages.info(f"[2/5] pretraining {' and '.join(TITLES[model] for model in models)}, seed {seed}{budget}{where}")


def pretrain_and_probe(run: DemoRun) -> None:
    """Steps 2-3 for the pretrained models: every pair of every seed, each model probed when trained
    (with ``--budgets``: at every budget, see :func:`pretrain_and_probe_curve`)."""
    from semisupcon_recipe.demo.models import check_pretraining_record, pretrain_models, refuse_overtrained

    settings = run.settings
    check_pretraining_record(settings, run.out / "models")
    for pair in run.pairs:
        for seed in settings.seeds:
            for model in pair:
                refuse_overtrained(run.out / "models" / model / str(seed), settings.epochs * settings.batches_per_epoch)
            if settings.budgets:
                pretrain_and_probe_curve(run, pair, seed)
                continue
            announce_pretraining(run, pair, seed)
            outputs = pretrain_models(settings, seed, run.manifests, run.out, run.device, run.parallel, pair)
            for model in pair:
                stages.info(f"[3/5] probing {TITLES[model]}, seed {seed}")
                run.evaluate(model, seed, outputs[model])


def pretrain_and_probe_curve(run: DemoRun, pair: tuple[str, str], seed: int) -> None:
    """The compute curve of one pair and seed: pretrain to the smallest budget, probe, resume
    the same run to the next budget, probe, and so on. Each budget's probes stay in
    ``eval/<model>/<seed>/steps_<N>`` and are reused on a rerun (the run's checkpoint is then
    past the smaller budgets)."""
    from semisupcon_recipe.demo.models import pretrain_models, refuse_overtrained

    settings = run.settings
    for epochs in budget_epochs(settings.budgets, settings.batches_per_epoch):
        steps = epochs * settings.batches_per_epoch
        folders = {model: run.out / "models" / model / str(seed) for model in pair}
        done = {model: run.eval_folder(model, seed, steps) / "results.json" for model in pair}
        for model in [model for model in pair if done[model].is_file()]:
            stages.info(f"[3/5] {TITLES[model]}, seed {seed}, {steps} steps: probed before ({done[model].parent})")
            run.keep(model, seed, folders[model], json.loads(done[model].read_text(encoding="utf-8")), steps)
        missing = tuple(model for model in pair if not done[model].is_file())
        if not missing:
            continue
        for model in missing:
            refuse_overtrained(folders[model], steps)
        announce_pretraining(run, missing, seed, f", to {steps} steps")
        outputs = pretrain_models(replace(settings, epochs=epochs), seed, run.manifests, run.out, run.device, run.parallel, missing)
        for model in missing:
            stages.info(f"[3/5] probing {TITLES[model]}, seed {seed}, at {steps} steps")
            run.evaluate(model, seed, outputs[model], steps)


def probe_baselines(run: DemoRun) -> list[str]:
    """Step 3 for the baselines; returns their names (handcrafted first)."""
    import yaml

    from semisupcon_recipe.demo.baselines import handcrafted_model, random_init_model
    from semisupcon_recipe.encoder_spec import SPEC_FILE

    first = run.settings.seeds[0]
    spec = yaml.safe_load((run.runs["ssl"][first] / SPEC_FILE).read_text(encoding="utf-8"))
    stages.info(f"[3/5] probing {TITLES[HANDCRAFTED]}")
    folder = handcrafted_model(run.out / "models" / HANDCRAFTED, spec["sample_rate"], spec["clip_len"])
    result = run.evaluate(HANDCRAFTED, first, folder)
    run.results[HANDCRAFTED].update(dict.fromkeys(run.settings.seeds, result))  # no training: the same for every seed
    run.runs[HANDCRAFTED].update(dict.fromkeys(run.settings.seeds, folder))
    baselines = [HANDCRAFTED]
    for ssl_model, _ in run.pairs:
        random = RANDOM_INIT[ssl_model]
        baselines.append(random)
        for seed in run.settings.seeds:
            stages.info(f"[3/5] probing {TITLES[random]}, seed {seed}")
            run.evaluate(random, seed, random_init_model(run.settings, ssl_model, seed, run.manifests, run.out / "models" / random / str(seed)))
    return baselines


def robustness_markdown(run: DemoRun) -> str:
    """Step 4: the key probe (:data:`~.settings.ROBUSTNESS_TASK`) of the first seed's pair under
    corruptions; the markdown for the report."""
    from semisupcon_recipe.evaluation.robustness import robustness

    stages.info(f"[4/5] robustness of the {ROBUSTNESS_TASK} probe")
    first = run.settings.seeds[0]
    robustness(
        [run.runs[model][first] for model in MODELS], run.tasks_file, run.settings.corruptions, run.settings.severities,
        run.out / "robustness", task_name=ROBUSTNESS_TASK, head="linear", labels=list(MODELS.values()),
        cache=run.out / "features", device=run.device, command=run.command,
    )
    text = (run.out / "robustness" / "robustness.md").read_text(encoding="utf-8")
    return re.sub(r"^(#+) ", r"\1## ", text, flags=re.M).replace("](plots/", "](robustness/plots/")


def labeled_manifest(run: DemoRun) -> Path:
    """The labeled manifest of the supervised pretrainings: the supervised label's, or the ``--label-control`` copy."""
    if run.settings.label_control:
        return run.out / "models" / "semisupcon" / CONTROL_MANIFEST
    return Path(run.manifests[f"labeled_{run.settings.supervised_label}"])


def supervision_diagnostics(run: DemoRun, models: list[str], similarity) -> dict[str, dict[int, dict]]:
    """Label-derived positives and draws per labeled clip of every pretraining, and the
    memorisation probe of every model (see :mod:`.diagnostics`). ``similarity``: the loss's
    label similarity, which picks the pairs of ``--labeled-sampling pairs`` in the replay."""
    from semisupcon_recipe.demo.diagnostics import (
        draw_summary, labeled_draw_counts, labeled_partners, memorisation_gap, positive_shares,
    )
    from semisupcon_recipe.demo.report import main_metric
    from semisupcon_recipe.manifest import read_manifest

    pool = len(read_manifest(run.manifests["pretrain"]))
    partners = labeled_partners(labeled_manifest(run), similarity) if run.settings.labeled_sampling == "pairs" else None
    diagnostics: dict[str, dict[int, dict]] = {}
    for model in models:
        for seed in run.settings.seeds:
            record = {"memorisation": memorisation_gap(run.results[model][seed], main_metric, run.settings.supervised_label)}
            subset = run.runs[model][seed] / "labeled_subset.txt"
            train_log = run.runs[model][seed] / "train_log.txt"
            positives = positive_shares(train_log) if train_log.is_file() else None
            if positives is not None:
                record["positives"] = positives
            labeled = len(subset.read_text(encoding="utf-8").splitlines()) if subset.is_file() else 0
            if labeled:
                record["draws"] = draw_summary(labeled_draw_counts(run.settings, seed, labeled, pool - labeled, partners))
            logger.info("diagnostics of %s, seed %d: %s", model, seed, record)
            diagnostics.setdefault(model, {})[seed] = record
    return diagnostics


def determinism_note(run: DemoRun) -> str:
    """What the report states about thread counts and algorithms."""
    import torch

    from semisupcon_recipe.demo.models import PRETRAINING_THREADS

    order = "the two of a seed side by side in two processes" if run.parallel else "one after the other"
    return (
        f"pretrainings with {PRETRAINING_THREADS} torch thread each (OMP_NUM_THREADS=MKL_NUM_THREADS={PRETRAINING_THREADS}; "
        f"{order}), feature extraction and probes with {torch.get_num_threads()}; "
        f"torch.use_deterministic_algorithms: {torch.are_deterministic_algorithms_enabled()}; "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, device {run.device}."
    )


def write_outputs(run: DemoRun, baselines: list[str], robustness_md: str, seconds: float) -> str:
    """Step 5: plots, ``report.md`` and ``results.json``; returns the tables for the console."""
    from semisupcon_recipe.demo.models import pretraining_command, pretraining_overrides, supervised_label_similarity
    from semisupcon_recipe.demo.plots import plot_compute_curve, plot_embedding_map, plot_target_matrix, plot_training_curves
    from semisupcon_recipe.demo.report import (
        commands_block, compute_curve_section, curve_rows, diagnostics_table, results_section, score_rows, ssl_mix_section, write_report,
    )

    settings, out, first = run.settings, run.out, run.settings.seeds[0]
    stages.info("[5/5] report")
    tables, table_rows = [], []
    for pair in run.pairs:
        models = [HANDCRAFTED, RANDOM_INIT[pair[0]], *pair]
        rows = score_rows(run.results, settings.seeds, models, pair, settings)
        tables.append(results_section(rows, models, pair))
        table_rows.append(rows)
    curve = {}
    if settings.budgets:
        curve = {"budgets": sorted(settings.budgets), "tables": [{"pair": list(pair), "rows": curve_rows(run.curve, settings.seeds, pair, settings)}
                                                                 for pair in run.pairs]}
        plot_compute_curve(curve["tables"], out / "plots" / "compute_curve.png")
    similarity = supervised_label_similarity(settings, run.manifests, out)
    diagnostics = supervision_diagnostics(run, [*baselines, *(model for pair in run.pairs for model in pair)], similarity)
    plot_training_curves({model: run.runs[model] for model in MODELS}, out / "plots" / "training_curves.png")
    plot_target_matrix(labeled_manifest(run), run.manifests["pretrain"], settings, similarity, out / "plots" / "target_matrix.png")
    plot_embedding_map({model: run.runs[model][first] for model in MODELS}, run.manifests[f"probe_{ROBUSTNESS_TASK}_test"],
                       out / "features", run.device, out / "plots" / "embedding_map.png")
    commands = [pretraining_command(*pretraining_overrides(settings, model, seed, run.manifests, run.runs[model][seed]), run.device)
                for pair in run.pairs for seed in settings.seeds for model in pair]
    sections = {
        "results": tables[0], "ssl_mix": ssl_mix_section(tables[1:], settings.supervised_label), "compute_curve": compute_curve_section(curve),
        "diagnostics": diagnostics_table(diagnostics, settings.supervised_label),
        "robustness": robustness_md, "determinism": determinism_note(run),
        "commands": commands_block(out, settings, run.command, commands),
    }
    record = {"command": run.command, "table": table_rows[0], "ssl_mix_tables": table_rows[1:], "baselines": baselines,
              "diagnostics": diagnostics, "determinism": sections["determinism"], "seconds": round(seconds, 1),
              **({"compute_curve": curve} if curve else {})}
    write_report(out, settings, sections, record)
    return "\n".join(tables)


# ----------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``semisupcon demo`` (torch-free: the values of ``--labeled-sampling`` are
    checked by :func:`settings_from_arguments`, where ``sampling`` may be imported)."""
    parser.add_argument("--out", default="demo_output", help="output folder (data, models, report); reused when rerun")
    parser.add_argument("--quick", action="store_true", help="a tiny run for tests (seconds, not minutes; numbers mean nothing)")
    parser.add_argument("--seeds", type=int, nargs="+", help="pretraining seeds (default 0 1 2)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="pretraining epochs of --batches-per-epoch steps (default 6)")
    budget.add_argument(
        "--budgets", type=int, nargs="+", metavar="STEPS",
        help="compute curve: pretrain to each of these optimizer step counts (whole epochs), resuming, and probe at each; "
             "the main table is the largest budget's",
    )
    parser.add_argument("--batches-per-epoch", type=int, help="optimizer steps per pretraining epoch (default 50)")
    parser.add_argument("--num-clips", type=int, help="pretraining clips to synthesize (default 4800)")
    parser.add_argument("--labeled-share", type=float, help="b_s of SemiSupCon: labeled share of every batch (default 0.25)")
    parser.add_argument("--temperature", type=float, help="softmax temperature tau of both models (default 0.2)")
    parser.add_argument(
        "--supervised-label", choices=SUPERVISED_LABELS,
        help="the label type SemiSupCon sees (default key); style synthesizes the data with 5 styles and probes them too; "
             "instruments is multi-label (supervision: multilabel, positives share at least the yaml's threshold of tags)",
    )
    parser.add_argument(
        "--labeled-sampling", metavar="{uniform,pairs}",
        help="how SemiSupCon's labeled clips are drawn (default pairs: each one beside one of its positives; uniform: independently, as the recipes by default)",
    )
    parser.add_argument(
        "--label-weight", type=float,
        help="weight in (0, 1] of a label-derived positive in SemiSupCon's target matrix, a same-clip one being 1 (default 1)",
    )
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
        "supervised_label": args.supervised_label,
        "labeled_sampling": args.labeled_sampling,
        "label_weight": args.label_weight,
        "ssl_objective": args.ssl_objective,
    }
    settings = replace(settings, **{name: value for name, value in chosen.items() if value is not None})
    from semisupcon_recipe.sampling import LABELED_SAMPLINGS

    if settings.labeled_sampling not in LABELED_SAMPLINGS:
        raise UsageError(f"--labeled-sampling {settings.labeled_sampling}: pass one of {', '.join(LABELED_SAMPLINGS)}")
    if not 0.0 < settings.label_weight <= 1.0:
        raise UsageError(f"--label-weight {settings.label_weight}: pass a weight in (0, 1] (1: the paper's target matrix)")
    if args.budgets:  # the largest budget is the run's length: its pretrainings, diagnostics and commands are the main table's
        epochs = budget_epochs(tuple(args.budgets), settings.batches_per_epoch)
        settings = replace(settings, budgets=tuple(sorted(args.budgets)), epochs=epochs[-1])
    return settings


def run_demo(args: argparse.Namespace) -> int:
    """The demo's five steps (see the module docstring); returns 0. A folder holding other
    settings, ``--budgets`` that are not whole epochs, or a ``--label-weight`` outside (0, 1] raise a
    :class:`~semisupcon_recipe.cli_options.UsageError` (exit status 2 in :func:`semisupcon_recipe.cli.main`)."""
    from semisupcon_recipe.demo.models import fix_threads

    start = time.time()
    settings = settings_from_arguments(args)
    fix_threads(settings.probe_threads, deterministic=args.device == "cpu")
    command = getattr(args, "command_line", None) or "semisupcon demo"  # as typed (semisupcon_recipe.cli)
    run = DemoRun(settings, Path(args.out).resolve(), args.device, command)
    run.parallel = args.device == "cpu" and (os.cpu_count() or 1) >= 2
    run.pairs = [tuple(MODELS)] + ([tuple(SSL_MIX_MODELS[settings.ssl_objective])] if settings.ssl_objective else [])
    (run.out / "plots").mkdir(parents=True, exist_ok=True)

    stages.info(f"[1/5] data -> {run.out / 'data'}")
    run.manifests = generate_data(settings, run.out / "data")
    run.tasks_file = write_tasks_file(run.manifests, run.out / "tasks.yaml", run.settings)
    pretrain_and_probe(run)
    baselines = probe_baselines(run)
    robustness_md = robustness_markdown(run)
    tables = write_outputs(run, baselines, robustness_md, time.time() - start)
    print(f"\n{tables}report: {run.out / 'report.md'}", flush=True)
    return 0
