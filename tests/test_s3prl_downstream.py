"""``semisupcon s3prl-eval``: our tasks through s3prl's own downstream trainer, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import yaml
from interop_fixtures import exported_model, tone  # noqa: F401  (session fixture)

from semisupcon_recipe.interop.s3prl_downstream import hear_file_name, train_batch_size, write_hear_task
from semisupcon_recipe.manifest import write_manifest

REPO = Path(__file__).resolve().parents[1]
RATE = 22050  # not 16 kHz: the task folder must be resampled
SPLIT_SIZES = {"train": 9, "valid": 4, "test": 4}  # 9 training clips: batches of 4 would leave one alone
GENRES = {"low": 220.0, "high": 1760.0, "mid": 660.0}
TAGS = [["new age"], ["male vocal", "piano"], ["piano"]]


def write_task_manifests(folder: Path) -> tuple[dict, dict]:
    """Manifests of a multiclass genre-like task and a multi-label tag task on the same clips."""
    genre, tags = {}, {}
    for split, size in SPLIT_SIZES.items():
        genre_rows, tag_rows = [], []
        for index in range(size):
            name = list(GENRES)[index % 3]
            path = folder / f"{split}{index}.wav"
            soundfile.write(path, tone(GENRES[name], 1.0, sample_rate=RATE, seed=index), RATE)
            row = {"ID": f"{split}/{index}", "duration": 1.0, "wav": str(path)}
            genre_rows.append({**row, "labels": name})
            tag_rows.append({**row, "labels": TAGS[index % 3]})
        genre[split] = folder / f"genre_{split}.csv"
        tags[split] = folder / f"tags_{split}.csv"
        write_manifest(genre[split], genre_rows)
        write_manifest(tags[split], tag_rows)
    return genre, tags


def write_tasks_file(path: Path, genre: dict, tags: dict) -> Path:
    tasks = [
        {"name": "genre", "kind": "multiclass", "select_on": "accuracy", **{k: str(v) for k, v in genre.items()}},
        {"name": "tags", "kind": "multilabel", "select_on": "roc_auc", **{k: str(v) for k, v in tags.items()}},
        {"name": "mood", "kind": "regression", "select_on": "r2", **{k: str(v) for k, v in genre.items()}},
    ]
    probe = REPO / "hparams" / "probe"
    path.write_text(yaml.safe_dump({"seeds": [1], "tasks": tasks}).replace(
        "seeds:", f"training: !include:{probe / 'tuned.yaml'} {{}}\nfeatures: !include:{probe / 'features.yaml'} {{}}\n"
        f"heads:\n    linear: !include:{probe / 'linear.yaml'} {{}}\nseeds:", 1))
    return path


def test_hear_task_folder_holds_16k_audio_and_the_labels_of_each_split(tmp_path):
    genre, tags = write_task_manifests(tmp_path)
    counts = write_hear_task(tags, "multilabel", tmp_path / "task")
    assert counts == SPLIT_SIZES
    train = json.loads((tmp_path / "task" / "train.json").read_text())
    assert train[hear_file_name("train/0")] == ["new age"]  # a multi-word tag stays one label
    assert train[hear_file_name("train/1")] == ["male vocal", "piano"]
    info = soundfile.info(tmp_path / "task" / "16000" / "test" / hear_file_name("test/3"))
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)


def test_no_training_batch_holds_a_single_clip():
    for clips in range(1, 200):
        size = train_batch_size(clips, 8)
        assert size >= 8 and (clips <= size or clips % size != 1)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")
def test_s3prl_eval_command_trains_s3prl_heads_and_writes_results(exported_model, tmp_path):
    genre, tags = write_task_manifests(tmp_path)
    tasks_file = write_tasks_file(tmp_path / "tasks.yaml", genre, tags)
    config = yaml.safe_load((REPO / "hparams" / "s3prl_downstream.yaml").read_text())
    config.update(total_steps=4, eval_step=2, batch_size=4, num_workers=0)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "s3prl-eval", "--model", str(exported_model),
               "--tasks", str(tasks_file), "--out", str(out), "--config", str(tmp_path / "tiny.yaml"), "--device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert 0.0 <= results["tasks"]["genre"]["scores"]["top1_acc"] <= 1.0
    assert set(results["tasks"]["tags"]["scores"]) == {"mAP", "aucroc"}
    assert "not supported" in results["tasks"]["mood"]["skipped"]
    assert (out / "runs" / "genre" / "train" / "valid_best").is_dir()
    markdown = (out / "results.md").read_text()
    assert "| genre | multiclass | top1_acc" in markdown and "semisupcon s3prl-eval --model" in markdown


def test_s3prl_eval_refuses_a_folder_that_is_not_an_export(tmp_path):
    genre, tags = write_task_manifests(tmp_path)
    tasks_file = write_tasks_file(tmp_path / "tasks.yaml", genre, tags)
    command = [sys.executable, "-m", "semisupcon_recipe.cli", "s3prl-eval", "--model", str(tmp_path),
               "--tasks", str(tasks_file), "--out", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("semisupcon s3prl-eval: error: ")
    assert "is not a complete export folder" in result.stderr and "Traceback" not in result.stderr
