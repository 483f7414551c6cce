#!/usr/bin/env python3
"""Pretrain a music encoder with SemiSupCon on any labeled + unlabeled manifests.

The three corners of the method differ only in the yaml (b_s = ``labeled_share``,
p_s = ``labeled_data_fraction``):

    python recipes/Generic/pretrain/train.py recipes/Generic/pretrain/hparams/semisupcon.yaml \
        --labeled_manifest labeled.csv --unlabeled_manifest unlabeled.csv
    python recipes/Generic/pretrain/train.py recipes/Generic/pretrain/hparams/ssl.yaml ...
    python recipes/Generic/pretrain/train.py recipes/Generic/pretrain/hparams/supervised.yaml ...

Multi-GPU (negatives from the global batch; ``batch_size`` is per process):

    torchrun --nproc_per_node=4 recipes/Generic/pretrain/train.py hparams/semisupcon.yaml \
        --precision=bf16 ...

On CPU add ``--distributed_backend=gloo --device=cpu``. Manifests are SpeechBrain CSVs
(``ID,duration,wav,labels``, see DESIGN.md). Everything goes to ``output_folder``: the
label vocabulary, the drawn ``p_s`` subset, ``encoder_spec.yaml``, the checkpoints,
``log.txt`` (the full log; the console shows one line per epoch) and ``command.txt``.
Rerunning the command resumes.

The steps are those of SpeechBrain's recipe template, in
:func:`semisupcon_recipe.pretraining.run_pretraining` (shared with the dataset recipes
and ``semisupcon demo``): create the experiment folder, write the encoder spec, build
the loaders (:func:`semisupcon_recipe.pretraining.dataio_prep`), build the Brain
(:class:`semisupcon_recipe.brains.SemiSupConBrain`, or the yaml's ``brain_class``), fit.
"""

import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.pretraining import run_pretraining

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)

    # Data preparation: none, the manifests are given (dataset recipes prepare theirs here).

    run_pretraining(hparams_file, run_opts, overrides, hparams)
