#!/usr/bin/env python3
"""Probe a frozen pretrained encoder on one downstream task (METHOD.md section 9).

    python recipes/Generic/probe/train.py recipes/Generic/probe/hparams/probe_linear.yaml \
        --pretrained_encoder results/semisupcon/1234 --task_name gtzan \
        --task_kind multiclass --train_manifest gtzan/train.csv \
        --valid_manifest gtzan/valid.csv --test_manifest gtzan/test.csv

``probe_mlp.yaml`` trains the one-hidden-layer head instead. Chunk features of the
three manifests are extracted once into ``feature_cache`` and reused by every later
run with the same encoder weights, manifest rows and chunking (other seeds, the other
head; labels are not part of the cache key). Training samples are
chunks with their track's label; validation and test score each track from the mean
of its chunk embeddings. Early stopping watches ``select_on`` on the validation set and
the test runs on the best validation checkpoint; the run writes
``<output_folder>/results.json``. Rerunning the command resumes.
"""

import logging
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.checkpoints import load_pretrained_encoder
from semisupcon_recipe.features import extract_embeddings
from semisupcon_recipe.probe import (
    SPLITS,
    ProbeBrain,
    build_head,
    default_selection_metric,
    probe_datasets,
    probe_results,
    write_json,
)

logger = logging.getLogger(__name__)


def dataio_prep(hparams, encoder, device):
    """Cached chunk features of the three manifests -> :class:`ProbeData`."""
    manifests = {split: hparams[f"{split}_manifest"] for split in SPLITS}
    replacements = {"data_root": hparams["data_root"]}
    settings = hparams["features"]
    if not settings["chunk_len"]:
        raise ValueError("set features: {chunk_len: <samples per chunk at the encoder rate>} in the yaml")
    features = {
        split: extract_embeddings(
            encoder,
            manifests[split],
            hparams["feature_cache"],
            chunk_len=settings["chunk_len"],
            max_chunks=settings["max_chunks"],
            replacements=replacements,
            batch_size=settings["extract_batch_size"],
            shard_size=settings["shard_size"],
            num_workers=settings["num_workers"],
            device=device,
        )
        for split in SPLITS
    }
    return probe_datasets(hparams["task_kind"], features, manifests, replacements)


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    device = run_opts.get("device") or sb.utils.distributed.infer_device()
    weights = load_pretrained_encoder(hparams["encoder"], hparams["pretrained_encoder"], hparams["pretrainer"])
    data = dataio_prep(hparams, hparams["encoder"], device)

    head = build_head(hparams["probe"]["head"], data, hparams["seed"])
    hparams["checkpointer"].add_recoverable("head", head)
    hparams["select_on"] = hparams["select_on"] or default_selection_metric(data.kind)
    hparams["label_names"] = data.vocabulary.names
    brain = ProbeBrain(
        modules={"head": head},
        opt_class=hparams["training"]["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    loader_kwargs = {"batch_size": hparams["training"]["batch_size"]}
    brain.fit(brain.hparams.epoch_counter, data.train, data.valid,
              train_loader_kwargs=loader_kwargs, valid_loader_kwargs=loader_kwargs)
    brain.evaluate(data.test, max_key=hparams["select_on"], test_loader_kwargs=loader_kwargs)

    results = probe_results(brain, data, task=hparams["task_name"], head=hparams["head_name"],
                            seed=hparams["seed"], encoder=str(weights))
    write_json(f"{hparams['output_folder']}/results.json", results)
    logger.info("test %s: %s", hparams["select_on"], results["test"][hparams["select_on"]])


if __name__ == "__main__":
    main()
