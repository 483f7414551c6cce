"""``semisupcon evaluate`` and ``semisupcon robustness`` on tiny planted-signal data."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from semisupcon_recipe import cli
from semisupcon_recipe.evaluation.report import results_markdown, short_labels
from semisupcon_recipe.evaluation.tasks import TasksFileError, load_tasks_file
from test_probe import (  # noqa: F401  (single_torch_thread is an autouse fixture)
    LEARNING_RATE,
    relabel,
    save_checkpoint,
    single_torch_thread,
    tiny_encoder,
    write_planted_dataset,
    write_spec,
)

REPO = Path(__file__).resolve().parents[1]
PROBE_BLOCKS = REPO / "hparams" / "probe"


TEST_SIZED = {
    "tuned": "{max_iterations: 200, grid: {weight_decay: [0.0001, 0.01], hidden_size: [16]}}",
    "paper": f"{{batch_size: 16, max_epochs: 12, patience: 3, lr: {LEARNING_RATE}}}",
}


def write_tasks_file(path: Path, tasks: list[dict], seeds: list[int], heads: tuple[str, ...] = ("linear", "mlp"),
                     protocol: str = "tuned") -> Path:
    """A tasks yaml that includes the shared probe blocks with test-sized overrides."""
    lines = [
        f"training: !include:{PROBE_BLOCKS / (protocol + '.yaml')}",
        f"    {TEST_SIZED[protocol]}",
        f"features: !include:{PROBE_BLOCKS / 'features.yaml'} {{}}",
        "heads:",
        *[f"    {head}: !include:{PROBE_BLOCKS / (head + '.yaml')} {{}}" for head in heads],
        f"seeds: {seeds}",
        "tasks:",
    ]
    for task in tasks:
        lines.append(f"    - name: {task['name']}")
        lines += [f"      {key}: {value}" for key, value in task.items() if key != "name"]
    path.write_text("\n".join(lines) + "\n")
    return path


def pretrained_encoder(folder: Path, seed: int = 0) -> Path:
    """A pretraining-like output folder: save/CKPT+.../encoder.ckpt and encoder_spec.yaml."""
    save_checkpoint(tiny_encoder(seed), folder)
    write_spec(folder)
    return folder


def planted_task(manifests: dict, name: str = "planted", kind: str = "multiclass") -> dict:
    return {"name": name, "kind": kind, **{split: str(path) for split, path in manifests.items()}}


# ----------------------------------------------------------------------------------
# Tasks files, labels, tables
# ----------------------------------------------------------------------------------
def test_tasks_file_errors_name_the_file_and_the_task(tmp_path):
    manifests = {split: tmp_path / f"{split}.csv" for split in ("train", "valid", "test")}
    good = planted_task(manifests)
    settings, tasks = load_tasks_file(write_tasks_file(tmp_path / "ok.yaml", [good], seeds=[1, 2]))
    assert list(settings.heads) == ["linear", "mlp"] and settings.seeds == [1, 2]
    assert settings.training["max_iterations"] == 200 and settings.training["grid"]["weight_decay"] == [0.0001, 0.01]
    assert settings.features["max_chunks"] == 64 and settings.features["chunk_len"] is None
    assert tasks[0].select_on == "accuracy" and tasks[0].manifests["test"] == str(manifests["test"])
    cases = {
        "kind": ({**good, "kind": "ranking"}, r"tasks\[0\] \(planted\): kind 'ranking' is not one of"),
        "select": ({**good, "select_on": "r2"}, r"select_on 'r2' is not a multiclass metric"),
        "missing": ({key: value for key, value in good.items() if key != "valid"}, r"tasks\[0\] lacks \['valid'\]"),
    }
    for name, (task, message) in cases.items():
        path = write_tasks_file(tmp_path / f"{name}.yaml", [task], seeds=[1])
        with pytest.raises(TasksFileError, match=message):
            load_tasks_file(path)
    for name, (override, message) in {
        "protocol": ("{protocol: hear}", r"training: protocol 'hear' is not one of \['paper', 'tuned'\]"),
        "grid": ("{grid: {weight_decay: []}}", r"training: grid: weight_decay must be a non-empty list"),
    }.items():
        path = write_tasks_file(tmp_path / f"{name}.yaml", [good], seeds=[1])
        path.write_text(path.read_text().replace(TEST_SIZED["tuned"], override))
        with pytest.raises(TasksFileError, match=message):
            load_tasks_file(path)
    with pytest.raises(TasksFileError, match="used twice"):
        load_tasks_file(write_tasks_file(tmp_path / "twice.yaml", [good, good], seeds=[1]))
    with pytest.raises(TasksFileError, match="does not exist"):
        load_tasks_file(tmp_path / "nowhere.yaml")


def test_the_example_tasks_file_loads_with_the_tuned_protocol():
    settings, tasks = load_tasks_file(REPO / "recipes" / "Generic" / "probe" / "hparams" / "tasks_example.yaml")
    assert [task.name for task in tasks][:2] == ["gtzan", "mtg_top50"]
    assert tasks[1].manifests["test"] == "results/MTG-Jamendo/manifests/test_top50tags.csv"
    assert settings.training["protocol"] == "tuned" and len(settings.training["grid"]["weight_decay"]) >= 5
    assert settings.heads["mlp"](input_size=512, num_outputs=10).layers[0].out_features == 512


def test_results_markdown_is_a_well_formed_table():
    run = {"test": {"roc_auc": 0.9, "pr_auc": 0.5, "excluded_tags": ["harp"], "loss": 0.1},
           "valid": {"roc_auc": 0.8, "pr_auc": 0.4, "loss": 0.2}}
    summary = {"test": {"roc_auc": {"mean": 0.9, "std": 0.0, "values": [0.9]}, "pr_auc": {"mean": 0.5, "std": 0.0, "values": [0.5]}},
               "valid": {"roc_auc": {"mean": 0.8, "std": 0.0, "values": [0.8]}, "pr_auc": {"mean": 0.4, "std": 0.0, "values": [0.4]}}}
    results = {"command": "semisupcon evaluate --model x", "encoder": {"weights": "w", "spec": "s"}, "protocol": "paper",
               "tasks": [{"name": "mtat", "kind": "multilabel", "select_on": "roc_auc",
                          "heads": {"linear": {**summary, "runs": [run]}}}]}
    text = results_markdown(results)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 4 and all(line.count("|") == 8 for line in table)
    assert "| mtat | multilabel | linear | roc_auc (selection) | 0.9000 | 0.8000 | 1 |" in table
    assert "left out of the macro averages: harp" in text and "`semisupcon evaluate --model x`" in text
    assert "Protocol: paper (" in text


def test_short_labels_tell_the_encoders_apart_by_their_shortest_path_suffix():
    assert short_labels(["runs/ssl/1", "runs/semisupcon/1"]) == ["ssl/1", "semisupcon/1"]


def test_missing_manifests_stop_both_commands_before_any_probing(tmp_path, capsys):
    manifests = write_planted_dataset(tmp_path / "data")
    unprepared = {split: tmp_path / "GTZAN" / f"{split}.csv" for split in ("train", "valid", "test")}
    tasks = write_tasks_file(tmp_path / "tasks.yaml",
                             [planted_task(manifests), planted_task(unprepared, "genre")], seeds=[1])
    encoder = pretrained_encoder(tmp_path / "pretrained")
    argv = ["--tasks", str(tasks), "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert cli.main(["evaluate", "--model", str(encoder), *argv]) == 2
    error = capsys.readouterr().err
    assert error.startswith("semisupcon evaluate: error: ") and str(unprepared["valid"]) in error
    assert "planted:" not in error and "prepare scripts" in error
    assert not (tmp_path / "out").exists()
    assert cli.main(["robustness", "--model", str(encoder), "--task", "genre", "--corruptions", "reverb", *argv]) == 2
    assert str(unprepared["test"]) in capsys.readouterr().err


def test_an_encoder_folder_without_checkpoint_or_with_a_planted_tag_is_a_usage_error(tmp_path, capsys):
    manifests = write_planted_dataset(tmp_path / "data")
    tasks = write_tasks_file(tmp_path / "tasks.yaml", [planted_task(manifests)], seeds=[1])
    argv = ["--tasks", str(tasks), "--out", str(tmp_path / "out"), "--device", "cpu"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["evaluate", "--model", str(empty), *argv]) == 2
    error = capsys.readouterr().err
    assert error.startswith("semisupcon evaluate: error: ") and str(empty) in error and "Traceback" not in error
    encoder = pretrained_encoder(tmp_path / "pretrained")
    spec = encoder / "encoder_spec.yaml"
    marker = tmp_path / "ran"
    spec.write_text(spec.read_text() + f"planted: !apply:os.system [touch {marker}]\n")
    for subcommand, options in (("evaluate", []), ("robustness", ["--corruptions", "reverb"])):
        assert cli.main([subcommand, *options, "--model", str(encoder), *argv]) == 2
        assert f"semisupcon {subcommand}: error: " in capsys.readouterr().err
    assert not marker.exists()


# ----------------------------------------------------------------------------------
# End to end
# ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_evaluate_command_writes_results_for_every_task_head_and_seed(tmp_path, capsys):
    manifests = write_planted_dataset(tmp_path / "data")
    pitch = relabel(manifests, tmp_path / "pitch", lambda row, rng: row["pitch"])
    tasks = write_tasks_file(tmp_path / "tasks.yaml",
                             [planted_task(manifests), planted_task(pitch, "pitch", "regression")], seeds=[1, 2])
    encoder = pretrained_encoder(tmp_path / "pretrained")
    out = tmp_path / "out"
    argv = ["--model", str(encoder), "--tasks", str(tasks), "--out", str(out), "--device", "cpu"]
    assert cli.main(["evaluate", *argv]) == 0

    results = json.loads((out / "results.json").read_text())
    assert results["command"].startswith("semisupcon evaluate --model ") and str(tasks) in results["command"]
    assert results["encoder"]["weights"].endswith("encoder.ckpt")
    assert [task["name"] for task in results["tasks"]] == ["planted", "pitch"]
    planted, pitch_task = results["tasks"]
    for task, metric in ((planted, "accuracy"), (pitch_task, "r2")):
        assert set(task["heads"]) == {"linear", "mlp"}
        for head in task["heads"].values():
            assert len(head["runs"]) == 2 and len(head["test"][metric]["values"]) == 2
            assert [run["seed"] for run in head["runs"]] == [1, 2]
            for run in head["runs"]:
                assert run["protocol"] == "tuned" and run["valid"][metric] == max(entry[metric] for entry in run["grid"])
                assert run["config"] in [{key: entry[key] for key in run["config"]} for entry in run["grid"]]
    assert planted["heads"]["linear"]["test"]["accuracy"]["mean"] >= 0.9
    assert pitch_task["heads"]["mlp"]["test"]["r2"]["mean"] >= 0.5
    # the four (head, seed) runs of a task share one extraction per split
    assert len(list((out / "features").glob("clean-*"))) == 3

    markdown = (out / "results.md").read_text()
    rows = [line for line in markdown.splitlines() if re.match(r"\| (planted|pitch) \|", line)]
    assert len(rows) == 4 and all(line.count("|") == 8 for line in rows)
    assert results["command"] in markdown and "accuracy (selection)" in markdown and "Protocol: tuned (" in markdown
    assert "| Task | Kind | Head | Metric | Test | Valid | Seeds |" in capsys.readouterr().out


@pytest.mark.slow
def test_robustness_command_writes_tables_and_plots_per_corruption(tmp_path):
    manifests = write_planted_dataset(tmp_path / "data")
    tasks = write_tasks_file(tmp_path / "tasks.yaml", [planted_task(manifests)], seeds=[1], heads=("linear",))
    first = pretrained_encoder(tmp_path / "ssl" / "1", seed=0)
    second = pretrained_encoder(tmp_path / "semisupcon" / "1", seed=1)
    out = tmp_path / "out"
    argv = ["--model", str(first), str(second), "--tasks", str(tasks), "--out", str(out),
            "--corruptions", "bit_crush", "reversal", "--severities", "0", "4", "--device", "cpu"]
    assert cli.main(["robustness", *argv]) == 0

    results = json.loads((out / "robustness.json").read_text())
    assert results["metric"] == "accuracy" and results["severities"] == [0, 4]
    assert list(results["encoders"]) == ["ssl/1", "semisupcon/1"]
    for corruption in ("bit_crush", "reversal"):
        for label in ("ssl/1", "semisupcon/1"):
            by_severity = results["scores"][corruption][label]
            assert set(by_severity) == {"0", "4"} and all(0 <= cell["mean"] <= 1 for cell in by_severity.values())
        plot = out / results["plots"][corruption]
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # severity 0 is the clean audio: one run shared by every corruption
    assert results["scores"]["bit_crush"]["ssl/1"]["0"] == results["scores"]["reversal"]["ssl/1"]["0"]
    assert {path.name.split("-")[0] for path in (out / "features").iterdir()} == {"clean", "bit_crush", "reversal"}
    # 4-bit-crushed tones stay tones: the probe still separates them
    assert results["scores"]["bit_crush"]["ssl/1"]["4"]["mean"] >= 0.6

    markdown = (out / "robustness.md").read_text()
    assert "## bit_crush" in markdown and "## reversal" in markdown and results["command"] in markdown
    table = [line for line in markdown.splitlines() if line.startswith("| ssl/1 |") or line.startswith("| semisupcon/1 |")]
    assert len(table) == 4 and all(line.count("|") == 5 for line in table)
    assert sys.modules["matplotlib"].get_backend().lower() == "agg"
