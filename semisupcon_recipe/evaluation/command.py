"""``semisupcon evaluate`` and ``semisupcon robustness``: their options and runners.

``semisupcon evaluate --model MODEL --tasks tasks.yaml --out DIR`` trains the probe heads
of METHOD.md section 9 on every task of ``tasks.yaml`` (every head, every seed) and
writes ``DIR/results.md`` and ``DIR/results.json`` (with the command line that produced
them); see :func:`semisupcon_recipe.evaluation.probing.evaluate_encoder`.

``semisupcon robustness --model A B --tasks tasks.yaml --task NAME --corruptions reverb
mp3 --severities 0 1 2 3 4 --out DIR`` does the same for one task with the probe's
train, valid and test audio corrupted (METHOD.md section 8) and writes a
score-vs-severity table and one plot per corruption; see
:func:`semisupcon_recipe.evaluation.robustness.robustness`.

A model is a ``semisupcon export`` folder, or a pretraining checkpoint (an
``encoder.ckpt``, a ``CKPT+`` folder, a ``save/`` or output folder: the checkpoint with
the lowest validation loss, else the latest, as ``semisupcon export`` picks) described
by the ``encoder_spec.yaml`` that pretraining writes into its output folder
(``--encoder-spec`` if it lives elsewhere). The tasks file format is in
:mod:`semisupcon_recipe.evaluation.tasks`. Features are cached under ``DIR/features``
(``--cache`` to share a cache between commands); probe runs live in ``DIR/runs/...`` and
resume when a command is rerun. Errors follow :mod:`semisupcon_recipe.cli_options`.
"""

from __future__ import annotations

import argparse

from semisupcon_recipe.cli_options import add_device_argument, add_model_argument, add_trust_code_argument


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", required=True, help="tasks yaml: protocol, heads, seeds, tasks "
                        "(format: semisupcon_recipe.evaluation.tasks)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--encoder-spec", help="encoder_spec.yaml of a checkpoint, if not in its output folder")
    parser.add_argument("--cache", help="feature cache folder (default: OUT/features)")
    add_device_argument(parser)
    add_trust_code_argument(parser, "encoder_spec.yaml or the export's hyperparams.yaml")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``semisupcon evaluate``.

    Example
    -------
    >>> parser = argparse.ArgumentParser(prog="semisupcon evaluate")
    >>> add_evaluate_arguments(parser)
    >>> parser.parse_args("--model m --tasks t.yaml --out o".split()).model
    'm'
    """
    add_model_argument(parser, checkpoints=True)
    _common_arguments(parser)


def add_robustness_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``semisupcon robustness``.

    Example
    -------
    >>> add_robustness_arguments(parser := argparse.ArgumentParser(prog="semisupcon robustness"))
    >>> parser.parse_args("--model a b --tasks t.yaml --out o --corruptions mp3".split()).severities
    [0, 1, 2, 3, 4]
    """
    add_model_argument(parser, several=True, checkpoints=True)
    parser.add_argument("--labels", nargs="+", help="names of the models in tables and plots (one per --model)")
    _common_arguments(parser)
    parser.add_argument("--task", help="name of the task in --tasks (needed when it lists several)")
    parser.add_argument("--head", help="head of --tasks to train (default: its first)")
    parser.add_argument("--corruptions", nargs="+", required=True,
                        help="chain time_stretch splice_out reverb chorus distortion compression reversal bit_crush mp3")
    parser.add_argument("--severities", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="0 (clean) to 4")


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``semisupcon evaluate``; prints ``results.md``."""
    from semisupcon_recipe.evaluation.probing import evaluate_encoder
    from semisupcon_recipe.evaluation.report import results_markdown

    results = evaluate_encoder(args.model, args.tasks, args.out, args.encoder_spec, args.cache, args.device,
                               command=args.command_line, trust_code=args.trust_code)
    print(results_markdown(results))
    return 0


def run_robustness(args: argparse.Namespace) -> int:
    """Run ``semisupcon robustness``; prints ``robustness.md``."""
    from semisupcon_recipe.evaluation.report import robustness_markdown
    from semisupcon_recipe.evaluation.robustness import robustness

    results = robustness(args.model, args.tasks, args.corruptions, args.severities, args.out,
                         task_name=args.task, head=args.head, labels=args.labels, encoder_spec=args.encoder_spec,
                         cache=args.cache, device=args.device, command=args.command_line,
                         trust_code=args.trust_code)
    print(robustness_markdown(results))
    return 0
