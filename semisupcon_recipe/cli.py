"""The ``semisupcon`` command line: one subcommand per user task, one set of conventions.

Subcommands are registered in :data:`SUBCOMMANDS`; each names the module holding its
``add_arguments(parser)`` and its runner ``(args) -> exit status``. Those modules keep
torch and SpeechBrain imports inside their functions, so building the parser (and
``--help``) imports no torch. The shared conventions (option spelling, ``--model``,
``--device``, hop in seconds, exit status) are in :mod:`semisupcon_recipe.cli_options`;
:func:`main` applies the exit-status rule in one place: a bad-input error
(:func:`bad_input_errors`) becomes one line on stderr and status 2, a failure of the
system at run time (disk full, permission denied) one line and status 1.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from semisupcon_recipe.cli_options import EXIT_BAD_INPUT, EXIT_FAILURE, UsageError, default_device


@dataclass(frozen=True)
class Subcommand:
    """Where a subcommand lives: ``module.add_arguments(parser)`` and ``module.run(args)``."""

    module: str
    summary: str
    add_arguments: str = "add_arguments"
    run: str = "main"
    logs_in_out: bool = True  # its --out is a run folder: log.txt and command.txt go there

    def function(self, name: str) -> Callable:
        """The function ``name`` of the subcommand's module (imported now)."""
        return getattr(importlib.import_module(self.module), name)


SUBCOMMANDS: dict[str, Subcommand] = {
    "demo": Subcommand("semisupcon_recipe.demo.run",
                       "the whole method end to end on built-in synthesized music, with a report", run="run_demo"),
    "export": Subcommand("semisupcon_recipe.interop.export",
                         "turn a pretraining checkpoint into a self-contained inference folder",
                         logs_in_out=False),  # a model folder holds the model only
    "cache": Subcommand("semisupcon_recipe.audio_cache",
                        "decode, down-mix and resample a manifest's audio once into a fast cache"),
    "embed": Subcommand("semisupcon_recipe.embed",
                        "write track (and frame) embeddings of audio files with an exported encoder"),
    "evaluate": Subcommand("semisupcon_recipe.evaluation.command",
                           "probe one encoder on a list of tasks; write results.md and results.json",
                           "add_evaluate_arguments", "run_evaluate"),
    "robustness": Subcommand("semisupcon_recipe.evaluation.command",
                             "compare encoders under audio corruptions of increasing severity; tables and plots",
                             "add_robustness_arguments", "run_robustness"),
    "s3prl-eval": Subcommand("semisupcon_recipe.interop.s3prl_downstream",
                             "train and test s3prl's own downstream models on the tasks of a tasks file"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per registered subcommand.

    Example
    -------
    >>> parser = build_parser()
    >>> parser.prog
    'semisupcon'
    >>> parser.parse_args(["embed", "song.wav", "--model", "m", "--out", "o"]).device is None
    True
    """
    parser = argparse.ArgumentParser(
        prog="semisupcon",
        description="Semi-supervised contrastive learning of music representations.",
        epilog="exit status: 0 success, 1 failure at run time, 2 usage or bad input",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, subcommand in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=subcommand.summary, description=subcommand.summary)
        subcommand.function(subcommand.add_arguments)(sub)
        sub.add_argument("--verbose", action="store_true",
                         help="show every log line on the console (the full log is always in OUT/log.txt)")
        sub.set_defaults(_runner=name)
    return parser


def bad_input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "bad input" (exit status 2), imported only when one is raised.

    Example
    -------
    >>> sorted(error.__name__ for error in bad_input_errors())[:3]
    ['CacheRateError', 'CheckpointError', 'FileNotFoundError']
    """
    from semisupcon_recipe.audio_cache import CacheRateError
    from semisupcon_recipe.checkpoints import CheckpointError
    from semisupcon_recipe.encoder_spec import UnsafeDescriptionError
    from semisupcon_recipe.manifest import ManifestError

    return (UsageError, FileNotFoundError, NotADirectoryError, CheckpointError, UnsafeDescriptionError,
            ManifestError, CacheRateError)


def run_failure_message(error: OSError) -> str:
    """One line for an operating-system failure while a command runs.

    Example
    -------
    >>> run_failure_message(OSError(errno.ENOSPC, "No space left on device", "out/a.npy"))
    "[Errno 28] No space left on device: 'out/a.npy' (the disk is full: free space and rerun the same command; finished outputs are kept)"
    """
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{error} (the disk is full: free space and rerun the same command; finished outputs are kept)"
    return str(error)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``semisupcon`` console script; returns the exit status.

    Sets up the run's logging (:func:`semisupcon_recipe.run_logging.setup_run_logging`:
    the full log in ``OUT/log.txt``, the command in ``OUT/command.txt``, a short console)
    and gives the runner the command line as typed, in ``args.command_line``.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "device", "") is None:
        args.device = default_device()
    subcommand = SUBCOMMANDS[args._runner]
    out = Path(args.out) if subcommand.logs_in_out and getattr(args, "out", None) else None
    out_is_new = out is not None and not out.exists()
    try:
        return _run(subcommand, args, words, out)
    except bad_input_errors() as error:
        print(f"semisupcon {args.command}: error: {error}", file=sys.stderr)
        if out_is_new:
            _remove_run_records(out)
        return EXIT_BAD_INPUT
    except OSError as error:
        print(f"semisupcon {args.command}: error: {run_failure_message(error)}", file=sys.stderr)
        return EXIT_FAILURE


def _run(subcommand: Subcommand, args: argparse.Namespace, words: list[str], out: Path | None) -> int:
    """Run ``subcommand`` with its logging set up (and the caller's logging restored after)."""
    from semisupcon_recipe.run_logging import command_line, restored_logging, setup_run_logging

    args.command_line = command_line(["semisupcon", *words])
    with restored_logging():
        if out is not None:
            setup_run_logging(out, verbose=args.verbose, command=args.command_line)
        else:
            logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
        return int(subcommand.function(subcommand.run)(args) or 0)


def _remove_run_records(out: Path) -> None:
    """Take back the ``OUT`` a refused command created: its log and command record, then the folder if empty."""
    from semisupcon_recipe.run_logging import COMMAND_FILE, LOG_FILE

    for name in (LOG_FILE, COMMAND_FILE):
        (out / name).unlink(missing_ok=True)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()

if __name__ == "__main__":
    sys.exit(main())
