#!/usr/bin/env python3
"""Probe a frozen pretrained encoder on one downstream task (METHOD.md section 9).

    python recipes/Generic/probe/train.py recipes/Generic/probe/hparams/probe.yaml \
        --pretrained_encoder results/semisupcon/1234 --task_name gtzan \
        --task_kind multiclass --train_manifest gtzan/train.csv \
        --valid_manifest gtzan/valid.csv --test_manifest gtzan/test.csv

A thin caller of the code behind ``semisupcon evaluate``
(:func:`semisupcon_recipe.evaluation.probing.probe_task`): the encoder is rebuilt from the
``encoder_spec.yaml`` of its pretraining run (any encoder: SampleCNN, the demo's
x-vector TDNN, ECAPA...) or loaded from a ``semisupcon export`` folder;
``features: {chunk_len: null}`` means the encoder's clip length; the yaml's
``training`` block names the protocol (``tuned`` by default, ``paper`` for the paper's).
Chunk features are cached in ``feature_cache`` and reused by every later run with the
same encoder weights, manifest rows and chunking. The run writes
``<output_folder>/<head_name>/seed_<seed>/results.json``; ``--head_name mlp`` trains
the MLP head.
"""

import logging
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
from semisupcon_recipe.evaluation.probing import probe_task
from semisupcon_recipe.evaluation.tasks import TasksFileError, parse_settings, parse_task

logger = logging.getLogger(__name__)


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
        task = parse_task({
            "name": hparams["task_name"], "kind": hparams["task_kind"], "select_on": hparams["select_on"],
            **{split: hparams[f"{split}_manifest"] for split in ("train", "valid", "test")},
            "replacements": {"data_root": hparams["data_root"]},
        }, hparams_file)
        settings = parse_settings({
            "training": hparams["training"], "features": hparams["features"],
            "heads": {hparams["head_name"]: hparams["probe"]}, "seeds": [hparams["seed"]],
        }, hparams_file)
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
