"""Dataset probe recipes (``recipes/<Dataset>/probe/``) against what the prepare scripts write.

Every prepare script runs once on its tiny copy of the official layout
(``tests/prepare/fixtures_*.py``). Each task of the paper is defined once, in its
dataset's ``tasks.yaml``, which ``semisupcon evaluate``, ``recipes/all_tasks.yaml`` and
``recipes/Generic/probe/train.py`` all read. Every tasks file must load, name each task
with its supervision kind and selection metric, point by default at
``results/<Dataset>/manifests`` (where the READMEs' prepare commands write), find there
the manifest files the prepare script wrote, and hold labels that the declared kind
encodes and the declared metric scores.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from prepare.fixtures_common import load_prepare_module
from prepare.fixtures_emomusic import build_emomusic
from prepare.fixtures_giantsteps import build_giantsteps
from prepare.fixtures_gtzan import GTZAN_GENRES, build_gtzan, write_gtzan_split_lists
from prepare.fixtures_magnatagatune import build_magnatagatune
from prepare.fixtures_medleydb import build_medleydb
from prepare.fixtures_mtg_jamendo import build_mtg_jamendo
from prepare.fixtures_nsynth import build_nsynth
from prepare.fixtures_vocalset import build_vocalset
from semisupcon_recipe.evaluate import ProbeSettings, ProbeTask, load_tasks_file
from semisupcon_recipe.manifest import LabelVocabulary, read_manifest
from semisupcon_recipe.metrics import compute_metrics
from semisupcon_recipe.probe_data import SPLITS

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

# METHOD.md section 9: every downstream task of the paper -> (kind, selection metric).
PAPER_TASKS = {
    "mtat_top50": ("multilabel", "roc_auc"),
    "mtat_all": ("multilabel", "roc_auc"),
    "mtg_top50": ("multilabel", "roc_auc"),
    "mtg_genre": ("multilabel", "roc_auc"),
    "mtg_moodtheme": ("multilabel", "roc_auc"),
    "mtg_instrument": ("multilabel", "roc_auc"),
    "gtzan": ("multiclass", "accuracy"),
    "giantsteps_key": ("multiclass", "mirex"),
    "nsynth_pitch": ("multiclass", "accuracy"),
    "nsynth_instrument_family": ("multiclass", "accuracy"),
    "emomusic": ("regression", "r2"),
    "vocalset_singer": ("multiclass", "accuracy"),
    "vocalset_technique": ("multiclass", "accuracy"),
    "medleydb": ("multilabel", "roc_auc"),
}


def _prepare_gtzan(module, data: Path, out: Path) -> None:
    build_gtzan(data, clips_per_genre=3)
    splits = {split: [f"{genre}.{number:05d}" for genre in GTZAN_GENRES] for number, split in enumerate(SPLITS)}
    module.prepare_gtzan(data, out, split_folder=write_gtzan_split_lists(data.parent / "lists", splits))


# Dataset folder -> (prepare script, fixture build + prepare call).
PREPARE = {
    "MagnaTagATune": ("magnatagatune_prepare.py",
                      lambda module, data, out: (build_magnatagatune(data), module.prepare_magnatagatune(data, out))),
    "MTG-Jamendo": ("mtg_jamendo_prepare.py",
                    lambda module, data, out: (build_mtg_jamendo(data), module.prepare_mtg_jamendo(data, out))),
    "GTZAN": ("gtzan_prepare.py", _prepare_gtzan),
    "GiantSteps": ("giantsteps_prepare.py",
                   lambda module, data, out: (build_giantsteps(data), module.prepare_giantsteps(data, out))),
    "NSynth": ("nsynth_prepare.py", lambda module, data, out: (build_nsynth(data), module.prepare_nsynth(data, out))),
    "EmoMusic": ("emomusic_prepare.py",
                 lambda module, data, out: (build_emomusic(data), module.prepare_emomusic(data, out))),
    "VocalSet": ("vocalset_prepare.py",
                 lambda module, data, out: (build_vocalset(data), module.prepare_vocalset(data, out))),
    "MedleyDB": ("medleydb_prepare.py",
                 lambda module, data, out: (build_medleydb(data), module.prepare_medleydb(data, out))),
}
DATASETS = sorted(PREPARE)
PROBE_RECIPE = RECIPES / "Generic" / "probe"


def default_manifest_folder(dataset: str) -> Path:
    return Path("results") / dataset / "manifests"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict[str, Path]:
    """Dataset -> the folder its prepare script wrote manifests into, from the fixture layout."""
    root = tmp_path_factory.mktemp("prepared")
    folders = {}
    for dataset, (script, build_and_prepare) in PREPARE.items():
        module = load_prepare_module(f"recipes/{dataset}/{script}")
        folders[dataset] = root / dataset / "manifests"
        build_and_prepare(module, root / dataset / "data", folders[dataset])
    return folders


def prepared_manifest(dataset: str, manifest: str, prepared: dict[str, Path]) -> Path:
    """Where the prepare script wrote ``manifest`` (a path below the default manifest folder)."""
    assert Path(manifest).parent == default_manifest_folder(dataset), (
        f"{manifest}: the default manifest folder of {dataset} is {default_manifest_folder(dataset)}")
    path = prepared[dataset] / Path(manifest).name
    written = sorted(file.name for file in prepared[dataset].glob("*.csv"))
    assert path.is_file(), f"{dataset}'s prepare script writes {written}, not {Path(manifest).name}"
    return path


def assert_labels_fit(task: str, kind: str, select_on: str, manifests: list[Path]) -> None:
    """The declared kind encodes every ``labels`` cell and its metrics include ``select_on``."""
    cells = [row["labels"] for path in manifests for row in read_manifest(path).values()]
    assert cells and all(cells), f"{task}: the prepared manifests hold unlabeled rows"
    if kind == "multiclass":
        several = [cell for cell in cells if ";" in cell]
        assert not several, f"{task}: cells such as {several[0]!r} hold several tags or values, not one class"
    vocabulary = LabelVocabulary.from_cells(kind, cells)
    targets = torch.stack([vocabulary.encode(cell, where=task) for cell in cells])  # (N,) or (N, C)
    scores = torch.randn(len(cells), vocabulary.size)  # (N, C)
    metrics = compute_metrics(kind, scores, targets, names=vocabulary.names, task=task)
    assert select_on in metrics, f"{task}: {kind} metrics of these labels are {sorted(metrics)}, not {select_on!r}"


def tasks_file(dataset: str) -> tuple[ProbeSettings, list[ProbeTask]]:
    return load_tasks_file(RECIPES / dataset / "probe" / "tasks.yaml")


def recipe_run(tasks_file: Path, task_name: str, **overrides) -> tuple[ProbeTask, ProbeSettings]:
    """The task and settings recipes/Generic/probe/train.py runs for these command-line overrides."""
    with open(PROBE_RECIPE / "hparams" / "probe.yaml", encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, {"tasks_file": str(tasks_file), "task_name": task_name,
                                            "pretrained_encoder": "unused", **overrides})
    return runpy.run_path(str(PROBE_RECIPE / "train.py"))["run_of_tasks_file"](hparams)


def described(heads: dict) -> dict:
    """Head name -> (constructor, keyword arguments): ``!name:`` partials of two loads compare by value."""
    return {name: (head.func, head.keywords) for name, head in heads.items()}


def test_each_dataset_defines_its_probe_tasks_in_one_tasks_file_and_nowhere_else():
    assert sorted(path.parents[1].name for path in RECIPES.glob("*/probe/tasks.yaml")) == DATASETS
    probe_yamls = sorted(path for path in RECIPES.glob("*/probe/**/*.yaml") if path.parents[1].name != "Generic"
                         and path.parents[2].name != "Generic")
    assert probe_yamls == [RECIPES / dataset / "probe" / "tasks.yaml" for dataset in DATASETS]
    # a task is defined by a `name:` entry of a `tasks` list; every yaml under recipes/ is searched
    definitions: dict[str, list[Path]] = {}
    for path in RECIPES.rglob("*.yaml"):
        for name in re.findall(r"^\s*-\s*\{?\s*name:\s*([\w.-]+)", path.read_text(encoding="utf-8"), re.M):
            definitions.setdefault(name, []).append(path.relative_to(RECIPES))
    assert {name: places for name, places in definitions.items() if len(places) > 1} == {}
    assert sorted(definitions) == sorted(PAPER_TASKS)
    for dataset in DATASETS:
        assert sorted(task.name for task in tasks_file(dataset)[1]) == sorted(
            name for name, places in definitions.items() if places == [Path(dataset, "probe", "tasks.yaml")])


@pytest.mark.parametrize("dataset", DATASETS)
def test_tasks_file_reads_the_prepared_manifests(dataset, prepared):
    settings, tasks = tasks_file(dataset)
    assert settings.seeds == [1, 2, 3] and sorted(settings.heads) == ["linear", "mlp"]
    assert settings.heads["linear"].keywords == {"hidden_size": 0}
    # the encoder comes from the run's encoder_spec.yaml, the chunk from its clip length
    assert settings.features["chunk_len"] is None and settings.training["protocol"] == "tuned"
    for task in tasks:
        assert (task.kind, task.select_on) == PAPER_TASKS[task.name]
        manifests = [prepared_manifest(dataset, task.manifests[split], prepared) for split in SPLITS]
        assert_labels_fit(task.name, task.kind, task.select_on, manifests)


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_probe_recipe_runs_the_task_definition_semisupcon_evaluate_reads(dataset):
    settings, tasks = tasks_file(dataset)
    for task in tasks:
        recipe_task, recipe_settings = recipe_run(RECIPES / dataset / "probe" / "tasks.yaml", task.name)
        assert recipe_task == task
        assert (recipe_settings.training, recipe_settings.features) == (settings.training, settings.features)
        assert described(recipe_settings.heads) == described({"linear": settings.heads["linear"]})
        assert recipe_settings.seeds == [1]
    _, mlp = recipe_run(RECIPES / dataset / "probe" / "tasks.yaml", tasks[0].name, head_name="mlp", seed=2)
    assert described(mlp.heads) == described({"mlp": settings.heads["mlp"]}) and mlp.seeds == [2]


def test_all_tasks_file_lists_every_dataset_task_once():
    settings, tasks = load_tasks_file(RECIPES / "all_tasks.yaml")
    assert settings.seeds == [1, 2, 3] and sorted(settings.heads) == ["linear", "mlp"]
    per_dataset: list[ProbeTask] = [task for dataset in DATASETS for task in tasks_file(dataset)[1]]
    assert sorted(tasks, key=lambda task: task.name) == sorted(per_dataset, key=lambda task: task.name)
    assert sorted(task.name for task in tasks) == sorted(PAPER_TASKS)


@pytest.mark.parametrize("dataset", DATASETS)
def test_readme_prepares_into_the_manifest_folder(dataset):
    readme = (RECIPES / dataset / "probe" / "README.md").read_text(encoding="utf-8")
    script = PREPARE[dataset][0]
    commands = re.findall(rf"python recipes/{re.escape(dataset)}/{script} .*--save_folder (\S+)", readme)
    assert commands == [str(default_manifest_folder(dataset))]
    names = [task.name for task in tasks_file(dataset)[1]]
    runs = re.findall(r"--tasks_file (\S+) --task_name (\S+)", readme)
    assert runs and all(file == f"recipes/{dataset}/probe/tasks.yaml" and name in names for file, name in runs)
    assert all(f"`{name}`" in readme for name in names)
