"""One logging set-up for every entry point: the full log in the run folder, a short console.

Recipes, ``semisupcon`` subcommands and the demo call :func:`setup_run_logging` with their
run folder (pretraining hands the same :data:`LOG_CONFIG` to SpeechBrain's
``create_experiment_directory``). Everything, SpeechBrain's INFO lines included
(checkpoint saves and deletions, the parameter count), goes to ``<run folder>/log.txt``;
the console shows warnings, errors, SpeechBrain's one line per epoch and the lines of the
:data:`STAGE_LOGGER` (one per stage of a run: "pretraining ... done"); progress bars are
tqdm's and are unaffected. Each command line is recorded once, in
``<run folder>/command.txt``, by :func:`record_command_line`. A run started inside
another (the demo's pretrainings) logs to its own folder within :func:`restored_logging`.
"""

from __future__ import annotations

import logging
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

LOG_CONFIG = str(Path(__file__).with_name("run_logging.yaml"))
LOG_FILE = "log.txt"
COMMAND_FILE = "command.txt"
STAGE_LOGGER = "semisupcon_recipe.stages"  # logging.getLogger(STAGE_LOGGER).info("...") reaches the console
CONSOLE_LOGGERS = (STAGE_LOGGER, "speechbrain.utils.train_logger")  # INFO lines shown on the console


class ConsoleFilter(logging.Filter):
    """Let through warnings and errors, and the INFO lines of :data:`CONSOLE_LOGGERS`.

    Example
    -------
    >>> console = ConsoleFilter()
    >>> console.filter(logging.makeLogRecord({"name": "speechbrain.utils.checkpoints", "levelno": logging.INFO}))
    False
    >>> console.filter(logging.makeLogRecord({"name": STAGE_LOGGER, "levelno": logging.INFO}))
    True
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name in CONSOLE_LOGGERS


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that started this process, as a shell line (``sys.argv`` by default).

    A script is spelled ``python <script> ...``; a console script (``semisupcon``) by its name.

    Example
    -------
    >>> command_line(["recipes/Generic/pretrain/train.py", "hparams/ssl.yaml", "--output_folder", "my run"])
    "python recipes/Generic/pretrain/train.py hparams/ssl.yaml --output_folder 'my run'"
    >>> command_line(["/usr/bin/semisupcon", "demo", "--quick"])
    'semisupcon demo --quick'
    """
    argv = list(sys.argv if argv is None else argv)
    program = argv[0] if argv[0].endswith(".py") else Path(argv[0]).name
    return shlex.join((["python"] if program.endswith(".py") else []) + [program] + argv[1:])


def record_command_line(folder: str | Path, command: str | None = None) -> Path:
    """Append ``command`` (default: :func:`command_line`) to ``<folder>/command.txt``
    unless it is already its last line (a resumed run typed again); log it to the file log.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for _ in range(2):
    ...     path = record_command_line(folder, "python train.py ssl.yaml")
    >>> path.read_text()
    'python train.py ssl.yaml\\n'
    """
    command = command_line() if command is None else command
    path = Path(folder) / COMMAND_FILE
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    if lines[-1:] != [command]:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(command + "\n")
    logging.getLogger(__name__).info("command line: %s", command)
    return path


def setup_run_logging(folder: str | Path, verbose: bool = False, command: str | None = None) -> Path:
    """Send the full log to ``<folder>/log.txt`` (appended), a short one to the console,
    and record the command line (see the module docstring); returns the log file.

    Parameters
    ----------
    folder : str or Path
        The run folder (created if missing).
    verbose : bool
        Show every INFO line on the console too.
    command : str, optional
        The command to record, when the caller spells it (default: ``sys.argv``).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with restored_logging():
    ...     log_file = setup_run_logging(folder, command="semisupcon demo --quick")
    ...     logging.getLogger("speechbrain.utils.checkpoints").info("Saved an end-of-epoch checkpoint")
    >>> "Saved an end-of-epoch checkpoint" in log_file.read_text()
    True
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    log_file = folder / LOG_FILE
    overrides: dict = {"handlers": {"file_handler": {"filename": str(log_file)}}}
    if verbose:
        overrides["handlers"]["console"] = {"filters": []}
    from speechbrain.utils.logger import setup_logging  # here: the torch-free command line imports STAGE_LOGGER

    setup_logging(LOG_CONFIG, overrides)
    record_command_line(folder, command)
    return log_file


@contextmanager
def restored_logging() -> Iterator[None]:
    """Give the root logger back its handlers and level when the block ends.

    For a run started inside another program (``semisupcon demo`` pretrains in its own
    process): the run's set-up points the log at the run's folder, and the caller's log
    resumes afterwards.

    Example
    -------
    >>> import tempfile
    >>> before = list(logging.getLogger().handlers)
    >>> with restored_logging():
    ...     _ = setup_run_logging(tempfile.mkdtemp(), command="python train.py")
    >>> logging.getLogger().handlers == before
    True
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
