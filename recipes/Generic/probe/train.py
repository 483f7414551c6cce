#!/usr/bin/env python3
"""Probe a frozen pretrained encoder on one task of a tasks file (METHOD.md section 9).

    python recipes/Generic/probe/train.py recipes/Generic/probe/hparams/probe.yaml \
        --tasks_file recipes/GTZAN/probe/tasks.yaml --task_name gtzan \
        --pretrained_encoder results/MagnaTagATune/semisupcon/1234

A thin caller of the code behind ``semisupcon evaluate``
(:func:`semisupcon_recipe.evaluate.probe_task`), on the task, protocol, chunking and
heads of the same tasks file (:func:`semisupcon_recipe.evaluate.load_tasks_file`):
each task is defined once, in ``recipes/<Dataset>/probe/tasks.yaml`` or a file of
your own. The encoder is rebuilt from the ``encoder_spec.yaml`` of its pretraining run
(any encoder: SampleCNN, the demo's x-vector TDNN, ECAPA...) or loaded from a
``semisupcon export`` folder; ``features: {chunk_len: null}`` means the encoder's clip
length. Chunk features are cached in ``feature_cache`` and reused by every later run
with the same encoder weights, manifest rows and chunking. The run writes
``<output_folder>/<head_name>/seed_<seed>/results.json``; ``--head_name mlp`` trains
the MLP head.
"""

import dataclasses
import logging
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
from semisupcon_recipe.evaluate import TasksFileError, load_tasks_file, probe_task

logger = logging.getLogger(__name__)


def run_of_tasks_file(hparams: dict):
    """The task, and the settings restricted to this run's head and seed, of ``hparams["tasks_file"]``."""
    settings, tasks = load_tasks_file(hparams["tasks_file"])
    by_name = {task.name: task for task in tasks}
    if hparams["task_name"] not in by_name:
        raise TasksFileError(f"task_name {hparams['task_name']!r} is not a task of {hparams['tasks_file']} "
                             f"(tasks: {sorted(by_name)})")
    if hparams["head_name"] not in settings.heads:
        raise TasksFileError(f"head_name {hparams['head_name']!r} is not a head of {hparams['tasks_file']} "
                             f"(heads: {sorted(settings.heads)})")
    settings = dataclasses.replace(settings, heads={hparams["head_name"]: settings.heads[hparams["head_name"]]},
                                   seeds=[hparams["seed"]])
    return by_name[hparams["task_name"]], settings


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    try:
        task, settings = run_of_tasks_file(hparams)
    except TasksFileError as error:
        print(f"{sys.argv[0]}: error: {error}", file=sys.stderr)
        sys.exit(2)
    device = run_opts.get("device") or sb.utils.distributed.infer_device()
    encoder = load_encoder_from_checkpoint(hparams["pretrained_encoder"], hparams["encoder_spec"])
    runs = probe_task(encoder, task, settings, hparams["output_folder"], hparams["feature_cache"], device,
                      extra_results={"encoder": str(encoder.weights)})
    result = runs[hparams["head_name"]][0]
    logger.info("%s, %s head, %s protocol: test %s %.4f", task.name, hparams["head_name"], result["protocol"],
                task.select_on, result["test"][task.select_on])


if __name__ == "__main__":
    main()
