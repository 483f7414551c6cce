"""The conventions every ``semisupcon`` subcommand shares: its common options, device and errors.

- Options are spelled with dashes (``--sample-rate``, ``--max-windows-per-call``); a
  model is always ``--model`` (an export folder; ``evaluate`` and ``robustness`` also
  take a pretraining checkpoint); ``--device`` defaults to :func:`default_device`
  everywhere; a frame hop is given in seconds (:data:`HOP_HELP`).
- Exit status: 0 success, 2 usage or bad input (argparse's own errors, a missing or
  malformed file, a model folder that is not one), 1 a failure at run time (disk full,
  every input unreadable). A runner raises :class:`UsageError` (or one of the project's
  bad-input errors listed by ``semisupcon_recipe.cli``) and :func:`semisupcon_recipe.cli.main`
  turns it into one line on stderr and status 2; runners never catch them themselves.

This module imports neither torch nor the rest of the package, so ``semisupcon --help``
stays quick.
"""

from __future__ import annotations

import argparse

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
HOP_HELP = (
    "frame hop in seconds (the unit of every hop on the command line; export.json and embed.json also "
    "record it in samples at the model's rate, as `hop`)"
)


class UsageError(ValueError):
    """The command cannot run on this input; the message says what is wrong and how to fix it."""


def default_device() -> str:
    """The device of every subcommand when ``--device`` is not given: ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Example
    -------
    >>> default_device() in ("cuda", "cpu")
    True
    """
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def add_model_argument(parser: argparse.ArgumentParser, several: bool = False, checkpoints: bool = False) -> None:
    """Add ``--model``: one (or, with ``several``, one or more) exported model(s).

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> add_model_argument(parser, several=True, checkpoints=True)
    >>> parser.parse_args(["--model", "a", "b"]).model
    ['a', 'b']
    """
    what = "folder written by `semisupcon export`"
    if checkpoints:
        what += ", or a pretraining checkpoint (encoder.ckpt, CKPT+ folder, save/ or output folder)"
    if several:
        parser.add_argument("--model", nargs="+", required=True, metavar="MODEL", help=f"models to compare: each a {what}")
    else:
        parser.add_argument("--model", required=True, help=what)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` (default ``None``: :func:`semisupcon_recipe.cli.main` fills in :func:`default_device`).

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> add_device_argument(parser)
    >>> parser.parse_args([]).device is None
    True
    """
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available, else cpu)")


def add_trust_code_argument(parser: argparse.ArgumentParser, description: str) -> None:
    """Add ``--trust-code``: build an encoder class outside the allow-list named in ``description``."""
    parser.add_argument(
        "--trust-code", action="store_true",
        help=f"build an encoder class outside the allow-list named in {description} "
        "(only for files you wrote or trust: building it runs its code)",
    )


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1.

    Example
    -------
    >>> positive_int("3")
    3
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a positive integer, got 0
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value
