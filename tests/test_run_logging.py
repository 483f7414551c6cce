"""One logging set-up: the full log in the run folder, a short console, the command line recorded once."""

import logging

import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from semisupcon_recipe import run_logging
from semisupcon_recipe.run_logging import COMMAND_FILE, STAGE_LOGGER, setup_run_logging


@pytest.fixture
def restored_logging():
    with run_logging.restored_logging():
        yield


def test_speechbrain_checkpoint_lines_go_to_the_log_file_not_the_console(tmp_path, capsys, restored_logging):
    log_file = setup_run_logging(tmp_path / "run", command="python train.py ssl.yaml")
    checkpointer = Checkpointer(tmp_path / "run" / "save", {"layer": torch.nn.Linear(2, 2)})
    checkpointer.save_and_keep_only(meta={"loss": 1.0})
    checkpointer.save_and_keep_only(meta={"loss": 0.5}, num_to_keep=1, min_keys=["loss"])
    logging.getLogger(STAGE_LOGGER).info("[2/5] pretraining done")
    logging.getLogger("semisupcon_recipe.data").warning("skipping 1 unreadable clip")
    console = capsys.readouterr().out
    log = log_file.read_text(encoding="utf-8")
    assert "Saved an end-of-epoch checkpoint" in log and "Deleted checkpoint" in log
    assert "checkpoint" not in console.lower()
    assert console.splitlines() == ["[2/5] pretraining done", "skipping 1 unreadable clip"]
    assert "command line: python train.py ssl.yaml" in log


def test_verbose_shows_every_info_line_on_the_console(tmp_path, capsys, restored_logging):
    setup_run_logging(tmp_path, verbose=True, command="semisupcon demo")
    logging.getLogger("speechbrain.core").info("Gradscaler enabled")
    assert "Gradscaler enabled" in capsys.readouterr().out


def test_a_rerun_with_the_same_command_records_it_once_and_a_new_one_is_added(tmp_path, restored_logging):
    for command in ("python train.py ssl.yaml", "python train.py ssl.yaml", "python train.py ssl.yaml --seed 2"):
        setup_run_logging(tmp_path, command=command)
    assert (tmp_path / COMMAND_FILE).read_text().splitlines() == [
        "python train.py ssl.yaml", "python train.py ssl.yaml --seed 2",
    ]


def test_a_run_inside_another_logs_to_its_folder_and_the_caller_log_resumes(tmp_path, restored_logging):
    outer = setup_run_logging(tmp_path / "demo", command="semisupcon demo")
    with run_logging.restored_logging():
        inner = setup_run_logging(tmp_path / "demo" / "models" / "ssl", command="python train.py ssl.yaml")
        logging.getLogger("speechbrain.core").info("inner line")
    logging.getLogger("semisupcon_recipe.demo").info("outer line")
    assert "inner line" in inner.read_text() and "inner line" not in outer.read_text()
    assert "outer line" in outer.read_text() and "outer line" not in inner.read_text()
