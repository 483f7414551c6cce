"""Dataset probe recipes (``recipes/<Dataset>/probe/``) against what the prepare scripts write.

Every prepare script runs once on its tiny copy of the official layout
(``tests/prepare/fixtures_*.py``). Then every task yaml (for
``recipes/Generic/probe/train.py``), every ``tasks.yaml`` and ``recipes/all_tasks.yaml``
must load, name each task of the paper once with its supervision kind and selection
metric, point by default at ``results/<Dataset>/manifests`` (where the READMEs'
prepare commands write), find there the manifest files the prepare script wrote, and
hold labels that the declared kind encodes and the declared metric scores.
"""

from __future__ import annotations

import re
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
from semisupcon_recipe.evaluation.tasks import ProbeSettings, ProbeTask, load_tasks_file
from semisupcon_recipe.manifest import LabelVocabulary, read_manifest
from semisupcon_recipe.metrics import compute_metrics

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SPLITS = ("train", "valid", "test")

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
TASK_YAMLS = sorted(path for path in RECIPES.glob("*/probe/hparams/*.yaml") if path.parents[2].name != "Generic")


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


@pytest.fixture(scope="module")
def task_recipes(tmp_path_factory) -> dict[Path, dict]:
    """Task yaml -> its loaded hyperparameters (default manifest folder, dummy encoder path)."""
    loaded = {}
    for path in TASK_YAMLS:
        output = tmp_path_factory.mktemp(path.stem)
        overrides = {"pretrained_encoder": str(output / "encoder.ckpt"), "output_folder": str(output / "run"),
                     "feature_cache": str(output / "cache")}
        with open(path, encoding="utf-8") as stream:
            loaded[path] = load_hyperpyyaml(stream, overrides)
    return loaded


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


def test_every_dataset_has_probe_recipes():
    assert sorted(path.parents[1].name for path in RECIPES.glob("*/probe/tasks.yaml")) == DATASETS
    assert sorted({path.parents[2].name for path in TASK_YAMLS}) == DATASETS


@pytest.mark.parametrize("path", TASK_YAMLS, ids=lambda path: f"{path.parents[2].name}/{path.stem}")
def test_task_yaml_reads_the_prepared_manifests(path, task_recipes, prepared):
    hparams, dataset = task_recipes[path], path.parents[2].name
    task = hparams["task_name"]
    assert (hparams["task_kind"], hparams["select_on"]) == PAPER_TASKS[task]
    assert hparams["manifest_folder"] == str(default_manifest_folder(dataset))
    manifests = [prepared_manifest(dataset, hparams[f"{split}_manifest"], prepared) for split in SPLITS]
    assert_labels_fit(task, hparams["task_kind"], hparams["select_on"], manifests)
    assert hparams["head_name"] == "linear" and hparams["probe"]["head"].keywords == {"hidden_size": 0}
    # the encoder comes from the run's encoder_spec.yaml, the chunk from its clip length
    assert hparams["encoder_spec"] is None and hparams["features"]["chunk_len"] is None
    assert hparams["training"]["protocol"] == "tuned"


def test_task_yamls_name_each_paper_task_once(task_recipes):
    names = [hparams["task_name"] for hparams in task_recipes.values()]
    assert sorted(names) == sorted(PAPER_TASKS)


def test_head_name_and_manifest_folder_overrides(tmp_path):
    overrides = {"pretrained_encoder": "unused.ckpt", "output_folder": str(tmp_path / "run"), "head_name": "mlp",
                 "manifest_folder": str(tmp_path / "manifests")}
    with open(RECIPES / "GiantSteps" / "probe" / "hparams" / "key.yaml", encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, overrides)
    assert hparams["probe"]["head"].keywords == {"hidden_size": 512, "dropout": 0.0}
    assert hparams["train_manifest"] == str(tmp_path / "manifests" / "train.csv")


@pytest.mark.parametrize("dataset", DATASETS)
def test_tasks_file_matches_the_task_yamls_and_the_prepared_manifests(dataset, task_recipes, prepared):
    settings, tasks = tasks_file(dataset)
    assert settings.seeds == [1, 2, 3] and sorted(settings.heads) == ["linear", "mlp"]
    recipes = {hparams["task_name"]: hparams for path, hparams in task_recipes.items() if path.parents[2].name == dataset}
    assert sorted(task.name for task in tasks) == sorted(recipes)
    for task in tasks:
        assert (task.kind, task.select_on) == PAPER_TASKS[task.name]
        assert task.manifests == {split: recipes[task.name][f"{split}_manifest"] for split in SPLITS}
        for split in SPLITS:
            prepared_manifest(dataset, task.manifests[split], prepared)


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
    for name in re.findall(r"`(hparams/\w+\.yaml)`", readme):
        assert (RECIPES / dataset / "probe" / name).is_file(), name
    assert all(f"`{task.name}`" in readme for task in tasks_file(dataset)[1])
