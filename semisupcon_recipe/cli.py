"""The ``semisupcon`` command line: one subcommand per user task.

Subcommands are registered in :data:`SUBCOMMANDS` as ``name -> "module:function"``;
each module exposes ``add_arguments(parser)`` and the named ``function(args)``. Those
modules keep heavy imports (torch, s3prl) inside their functions so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("semisupcon_recipe.demo.run:main", "the whole method end to end on built-in synthesized music, with a report"),
    "export": ("semisupcon_recipe.interop.export:main", "turn a pretraining checkpoint into a self-contained inference folder"),
    "embed": ("semisupcon_recipe.embed:main", "write track (and frame) embeddings of audio files with an exported encoder"),
    "evaluate": ("semisupcon_recipe.evaluate:evaluate_command", "probe one encoder on a list of tasks; write results.md and results.json"),
    "robustness": ("semisupcon_recipe.evaluate:robustness_command", "compare encoders under audio corruptions of increasing severity; tables and plots"),
    "s3prl-eval": ("semisupcon_recipe.interop.s3prl_downstream:main", "train and test s3prl's own downstream models on the tasks of a tasks file"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per registered subcommand.

    Example
    -------
    >>> parser = build_parser()
    >>> parser.prog
    'semisupcon'
    """
    parser = argparse.ArgumentParser(
        prog="semisupcon",
        description="Semi-supervised contrastive learning of music representations.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (target, summary) in SUBCOMMANDS.items():
        module = importlib.import_module(target.split(":")[0])
        sub = subparsers.add_parser(name, help=summary, description=summary)
        module.add_arguments(sub)
        sub.set_defaults(_target=target)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``semisupcon`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module_name, function_name = args._target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    return int(function(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
