"""The demo supervising other label kinds (key, style, instruments) with the pretraining's sampling options."""

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import replace

import pytest
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.cli_options import UsageError
from semisupcon_recipe.demo.diagnostics import labeled_draw_counts, labeled_partners, replay_sampler
from semisupcon_recipe.demo.models import pretraining_overrides, supervised_label_similarity
from semisupcon_recipe.demo.run import add_arguments, settings_from_arguments
from semisupcon_recipe.demo.settings import QUICK, SUPERVISED_MODELS
from semisupcon_recipe.demo.synth_config import STYLE_NAMES
from semisupcon_recipe.manifest import write_manifest
from semisupcon_recipe.pretraining import dataio_prep

# Labels as the demo dataset writes them; one style and one instrument set have no positive.
LABELS = {
    "style": [*STYLE_NAMES[:4] * 2, STYLE_NAMES[0], STYLE_NAMES[1], STYLE_NAMES[2], STYLE_NAMES[4]],
    "instruments": ["bass;drums;piano", "organ", "guitar;strings", "bass", "flute;reed", "piano", "drums;mallet",
                    "brass", "strings", "organ;reed", "guitar", "piano;bass"],
}


def parse(words: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(words)


def fake_manifests(folder, label: str) -> dict:
    """A demo-shaped pretraining pool of 48 clips whose first 12 are labeled (the audio is never read)."""
    rows = [{"ID": f"pretrain_{index:05d}", "duration": 3.0, "wav": f"{folder}/{index}.wav", "labels": ""} for index in range(48)]
    write_manifest(folder / "pretrain.csv", rows)
    write_manifest(folder / f"labeled_{label}.csv", [{**row, "labels": cell} for row, cell in zip(rows, LABELS[label])])
    return {"pretrain": folder / "pretrain.csv", f"labeled_{label}": folder / f"labeled_{label}.csv"}


def test_demo_label_options_override_the_defaults_and_a_bad_label_weight_is_refused():
    chosen = settings_from_arguments(parse(["--supervised-label", "instruments", "--labeled-sampling", "uniform", "--label-weight", "0.5"]))
    assert (chosen.supervised_label, chosen.labeled_sampling, chosen.label_weight) == ("instruments", "uniform", 0.5)
    default = settings_from_arguments(parse(["--quick"]))
    assert (default.supervised_label, default.labeled_sampling, default.label_weight) == ("key", "pairs", 1.0)
    with pytest.raises(UsageError, match=r"--label-weight 1.5: pass a weight in \(0, 1\]"):
        settings_from_arguments(parse(["--label-weight", "1.5"]))
    with pytest.raises(UsageError, match="--labeled-sampling balanced: pass one of uniform, pairs"):
        settings_from_arguments(parse(["--labeled-sampling", "balanced"]))


@pytest.mark.parametrize("model", SUPERVISED_MODELS)
def test_supervised_pretrainings_get_the_label_kind_sampling_and_weight_and_ssl_only_keeps_the_yamls(tmp_path, model):
    settings = replace(QUICK, supervised_label="instruments", labeled_sampling="pairs", label_weight=0.5)
    manifests = fake_manifests(tmp_path, "instruments")
    ssl_model = {"semisupcon": "ssl", "bestrq_semisupcon": "bestrq"}[model]
    for name, expected in ((model, ("multilabel", "pairs", 0.5)), (ssl_model, ("multiclass", "uniform", 1.0))):
        yaml_file, overrides = pretraining_overrides(settings, name, 0, manifests, tmp_path / name)
        with open(yaml_file, encoding="utf-8") as stream:
            hparams = load_hyperpyyaml(stream, overrides)
        similarity = hparams["loss"].label_similarity
        assert (similarity.supervision, hparams["labeled_sampling"], similarity.weight) == expected, name
    assert hparams["labeled_manifest"] is None and overrides["labeled_share"] == 0.0


@pytest.mark.parametrize("label", sorted(LABELS))
def test_draw_replay_with_pairs_gives_the_batches_of_the_sampler_the_recipe_builds(tmp_path, label):
    settings = replace(QUICK, supervised_label=label, labeled_sampling="pairs", epochs=3, batches_per_epoch=5)
    manifests = fake_manifests(tmp_path, label)
    yaml_file, overrides = pretraining_overrides(settings, "semisupcon", 0, manifests, tmp_path / "run")
    with open(yaml_file, encoding="utf-8") as stream:
        recipe = dataio_prep(load_hyperpyyaml(stream, overrides)).train_sampler
    partners = labeled_partners(manifests[f"labeled_{label}"], supervised_label_similarity(settings, manifests, tmp_path))
    replay = replay_sampler(settings, 0, 12, 36, partners)
    uniform = replay_sampler(replace(settings, labeled_sampling="uniform"), 0, 12, 36)
    recipe_batches, uniform_batches = [], []
    for epoch in range(1, settings.epochs + 1):
        for sampler in (recipe, replay, uniform):
            sampler.set_epoch(epoch)
        recipe_batches += list(recipe)
        assert list(replay) == recipe_batches[-settings.batches_per_epoch:], f"epoch {epoch}"
        uniform_batches += list(uniform)
    assert recipe_batches != uniform_batches  # the pairs change the draws
    labeled_in = [[index for index in batch if index < 12] for batch in recipe_batches]  # anchor, partner
    assert all(pair[1] in partners[pair[0]] for pair in labeled_in if len(partners[pair[0]]))
    counts = Counter(index for pair in labeled_in for index in pair)
    assert labeled_draw_counts(settings, 0, 12, 36, partners) == [counts[index] for index in range(12)]


def run_demo(out, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "demo", "--quick", "--out", str(out), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def style_pairs_demo(tmp_path_factory):
    """One quick demo supervising style with pair sampling (reused by the tests below)."""
    out = tmp_path_factory.mktemp("style") / "demo"
    result = run_demo(out, "--supervised-label", "style", "--labeled-sampling", "pairs")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_quick_style_demo_marks_the_style_probe_supervised_and_diagnoses_style_memorisation(style_pairs_demo):
    out = style_pairs_demo
    dataset = json.loads((out / "data" / "dataset.json").read_text())
    assert dataset["params"]["config"]["styles"] == list(STYLE_NAMES) and dataset["label_kinds"]["style"] == "multiclass"
    results = json.loads((out / "results.json").read_text())
    tasks = {row["task"]: row for row in results["table"]}
    assert set(tasks) == {"key", "mode", "tempo", "instruments", "style"}
    assert [task for task, row in tasks.items() if row["supervised"]] == ["style"]
    report = (out / "report.md").read_text()
    assert "| model | key, accuracy | mode, accuracy | tempo, accuracy | instruments, roc_auc | **style** (supervised), accuracy |" in report
    assert re.search(r"^\| \*\*style\*\* \(supervised\) \| accuracy \|", report, re.M)
    assert "The supervised label type is **style**; key, mode, tempo and instruments were never" in report
    assert "style probe: labeled clips (`style_on_labeled_clips`) / held-out clips / gap |" in report
    for model in ("handcrafted", "random", "ssl", "semisupcon"):
        assert results["diagnostics"][model]["0"]["memorisation"]["task"] == "style_on_labeled_clips"
    assert results["diagnostics"]["semisupcon"]["0"]["draws"]["labeled_clips"] == 12
    tasks_file = (out / "tasks.yaml").read_text()
    assert re.search(r"name: style_on_labeled_clips, kind: multiclass, .*test: \S+/labeled_style\.csv\}", tasks_file)


@pytest.mark.slow
def test_quick_style_demo_pretrains_semisupcon_on_style_pairs_and_ssl_only_without_labels(style_pairs_demo):
    out = style_pairs_demo
    command = (out / "models" / "semisupcon" / "0" / "command.txt").read_text()
    assert "--labeled_sampling=pairs" in command and "--label_weight=1.0" in command
    assert re.search(r"--labeled_manifest=\S+/data/labeled_style\.csv", command)
    hyperparams = (out / "models" / "semisupcon" / "0" / "hyperparams.yaml").read_text()
    assert "labeled_sampling: pairs" in hyperparams and "supervision: multiclass" in hyperparams
    assert re.search(r"^labeled_manifest:\s+\S+/labeled_style\.csv$", hyperparams, re.M)
    assert "labeled_sampling: pairs; " in (out / "models" / "semisupcon" / "0" / "log.txt").read_text()
    ssl = (out / "models" / "ssl" / "0" / "hyperparams.yaml").read_text()
    assert "labeled_sampling: uniform" in ssl and re.search(r"^labeled_manifest:[ \t]*$", ssl, re.M)


@pytest.mark.slow
def test_a_style_demo_folder_refuses_data_without_styles_and_other_sampling(style_pairs_demo):
    without_styles = run_demo(style_pairs_demo, "--labeled-sampling", "pairs")
    assert without_styles.returncode == 2 and "already holds a demo dataset generated with other parameters" in without_styles.stderr
    assert "styles" in without_styles.stderr and "Traceback" not in without_styles.stderr
    uniform = run_demo(style_pairs_demo, "--supervised-label", "style", "--labeled-sampling", "uniform")
    assert uniform.returncode == 2 and "labeled_sampling: 'pairs' there, 'uniform' asked" in uniform.stderr
    assert "pass another --out" in uniform.stderr


@pytest.mark.slow
def test_quick_instruments_demo_pretrains_with_multilabel_supervision(tmp_path):
    out = tmp_path / "instruments"
    result = run_demo(out, "--supervised-label", "instruments")
    assert result.returncode == 0, result.stderr[-3000:]
    hyperparams = (out / "models" / "semisupcon" / "0" / "hyperparams.yaml").read_text()
    assert "supervision: multilabel" in hyperparams and "threshold: 1" in hyperparams
    assert re.search(r"^labeled_manifest:\s+\S+/labeled_instruments\.csv$", hyperparams, re.M)
    vocabulary = json.loads((out / "models" / "semisupcon" / "0" / "label_vocabulary.json").read_text())
    assert vocabulary["kind"] == "multilabel"
    results = json.loads((out / "results.json").read_text())
    assert [row["task"] for row in results["table"] if row["supervised"]] == ["instruments"]
    assert results["diagnostics"]["semisupcon"]["0"]["memorisation"]["task"] == "instruments_on_labeled_clips"
    assert results["diagnostics"]["semisupcon"]["0"]["positives"]["label_positives_per_labeled_anchor"] > 0
    assert "| **instruments** (supervised), roc_auc |" in (out / "report.md").read_text()
    assert re.search(r"name: instruments_on_labeled_clips, kind: multilabel,", (out / "tasks.yaml").read_text())
