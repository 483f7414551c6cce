"""One command-line convention across the ``semisupcon`` subcommands, checked through the real command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from semisupcon_recipe import cli
from semisupcon_recipe.cli_options import add_device_argument, default_device
from semisupcon_recipe.manifest import write_manifest

REPO = Path(__file__).resolve().parents[1]
MODEL_SUBCOMMANDS = ("embed", "evaluate", "robustness", "s3prl-eval")


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return dict(action.choices)


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return [option for action in parser._actions for option in action.option_strings]


def minimal_tasks_file(folder: Path) -> Path:
    """A valid tasks file whose manifests exist (one tone each)."""
    folder.mkdir(parents=True, exist_ok=True)
    soundfile.write(folder / "a.wav", np.zeros(1600, dtype="float32"), 16000)
    for split in ("train", "valid", "test"):
        write_manifest(folder / f"{split}.csv", [{"ID": "a", "duration": 0.1, "wav": str(folder / "a.wav"), "labels": "x"}])
    path = folder / "tasks.yaml"
    path.write_text(
        "training: {protocol: paper, batch_size: 4, max_epochs: 1, patience: 1,\n"
        "           opt_class: !name:torch.optim.Adam {lr: 0.001}}\n"
        "features: {chunk_len: null, max_chunks: 4, extract_batch_size: 4, shard_size: 8,\n"
        "           num_workers: 0, corruption_seed: 0}\n"
        "heads: {linear: !name:semisupcon_recipe.probe.ProbeHead {hidden_size: 0}}\n"
        "seeds: [1]\n"
        "tasks:\n"
        f"  - {{name: tiny, kind: multiclass, train: {folder / 'train.csv'}, valid: {folder / 'valid.csv'}, "
        f"test: {folder / 'test.csv'}}}\n"
    )
    return path


def command(subcommand: str, model: Path, tasks: Path, out: Path) -> list[str]:
    """A full command line of ``subcommand`` with ``model`` as its model."""
    if subcommand == "embed":
        return ["embed", str(tasks.parent / "a.wav"), "--model", str(model), "--out", str(out)]
    extra = ["--corruptions", "mp3"] if subcommand == "robustness" else []
    return [subcommand, "--model", str(model), "--tasks", str(tasks), "--out", str(out), *extra]


def test_building_the_parser_imports_no_torch():
    code = "import semisupcon_recipe.cli, sys; semisupcon_recipe.cli.build_parser(); print(sorted({'torch', 'speechbrain'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_option_is_spelled_with_dashes():
    for name, parser in subparsers().items():
        long_options = [option for option in option_strings(parser) if option.startswith("--")]
        assert long_options and not [option for option in long_options if "_" in option], name


def test_a_model_is_given_with_model_in_every_subcommand_that_takes_one():
    parsers = subparsers()
    for name in MODEL_SUBCOMMANDS:
        options = option_strings(parsers[name])
        assert "--model" in options and not {"--encoder", "--encoders"} & set(options), name
    assert parsers["robustness"].parse_args(["--model", "a", "b", "--tasks", "t", "--out", "o", "--corruptions", "mp3"]).model == ["a", "b"]


def add_device_only(parser: argparse.ArgumentParser) -> None:
    add_device_argument(parser)


def record_device(args: argparse.Namespace) -> int:
    RECORDED["device"] = args.device
    return 0


RECORDED: dict[str, str] = {}


def test_every_device_option_defaults_to_cuda_when_available_else_cpu(monkeypatch):
    parsers = subparsers()
    with_device = [name for name, parser in parsers.items() if "--device" in option_strings(parser)]
    assert set(MODEL_SUBCOMMANDS) <= set(with_device)
    for name in with_device:
        device = next(action for action in parsers[name]._actions if "--device" in action.option_strings)
        assert device.default is None and "default: cuda when available, else cpu" in device.help, name
    monkeypatch.setitem(cli.SUBCOMMANDS, "show-device", cli.Subcommand(__name__, "records --device", "add_device_only", "record_device"))
    assert cli.main(["show-device"]) == 0 and RECORDED["device"] == default_device()
    assert cli.main(["show-device", "--device", "cpu"]) == 0 and RECORDED["device"] == "cpu"


@pytest.mark.parametrize("subcommand", MODEL_SUBCOMMANDS)
def test_a_bad_model_path_is_a_one_line_usage_error(subcommand, tmp_path, capsys):
    tasks = minimal_tasks_file(tmp_path / "data")
    assert cli.main(command(subcommand, tmp_path / "no_such_model", tasks, tmp_path / "out")) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"semisupcon {subcommand}: error: ") and "no_such_model" in error
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error


@pytest.mark.parametrize("subcommand", ("evaluate", "robustness", "s3prl-eval"))
def test_a_missing_tasks_file_is_a_one_line_usage_error(subcommand, tmp_path, capsys):
    assert cli.main(command(subcommand, tmp_path, tmp_path / "missing.yaml", tmp_path / "out")) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"semisupcon {subcommand}: error: tasks file ") and "missing.yaml does not exist" in error
    assert len(error.strip().splitlines()) == 1


def test_export_of_a_folder_without_checkpoint_is_a_one_line_usage_error(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert cli.main(["export", str(tmp_path / "run"), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("semisupcon export: error: ") and len(error.strip().splitlines()) == 1


def test_the_console_command_exits_2_on_bad_input_and_on_bad_usage(tmp_path):
    tasks = minimal_tasks_file(tmp_path / "data")
    done = subprocess.run([sys.executable, "-m", "semisupcon_recipe.cli", *command("evaluate", tmp_path / "nowhere", tasks, tmp_path / "out")],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("semisupcon evaluate: error: ")  # after the log lines
    done = subprocess.run([sys.executable, "-m", "semisupcon_recipe.cli", "cache", "m.csv", "--out", "o", "--sample-rate", "0"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "argument --sample-rate: must be a positive integer, got 0" in done.stderr


def test_every_hop_on_the_command_line_is_in_seconds():
    parsers = subparsers()
    hop_actions = [(name, action) for name, parser in parsers.items() for action in parser._actions
                   if any("hop" in option for option in action.option_strings)]
    assert hop_actions and all(action.metavar == "SECONDS" and "in seconds" in action.help for _, action in hop_actions)


def test_a_run_keeps_its_full_log_and_command_in_out_and_the_console_short(tmp_path, capsys):
    tasks = minimal_tasks_file(tmp_path / "data")
    words = ["cache", str(tasks.parent / "train.csv"), "--out", str(tmp_path / "cache"), "--sample-rate", "8000", "--workers", "1"]
    assert cli.main(words) == 0
    console = capsys.readouterr().out
    assert (tmp_path / "cache" / "command.txt").read_text().splitlines() == ["semisupcon " + " ".join(words)]
    log = (tmp_path / "cache" / "log.txt").read_text()
    assert "command line: semisupcon cache" in log and "command line:" not in console
    assert console.strip().splitlines()[-1].startswith("cached 1 file(s)")


def test_a_refused_command_leaves_no_new_out_folder_behind(tmp_path, capsys):
    tasks = minimal_tasks_file(tmp_path / "data")
    assert cli.main(command("evaluate", tmp_path / "no_such_model", tasks, tmp_path / "out")) == 2
    assert not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()
    assert cli.main(command("evaluate", tmp_path / "no_such_model", tasks, tmp_path / "kept")) == 2
    assert (tmp_path / "kept").is_dir()  # a folder the user made stays, with the refused command's log
