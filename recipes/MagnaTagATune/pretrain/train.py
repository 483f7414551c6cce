#!/usr/bin/env python3
"""SemiSupCon pretraining in the paper's setting: MagnaTagATune top-50 tags (labeled)
+ FMA-medium (unlabeled), SampleCNN at 22,050 Hz.

    python recipes/MagnaTagATune/pretrain/train.py recipes/MagnaTagATune/pretrain/hparams/semisupcon.yaml \
        --data_folder /data/MagnaTagATune --fma_folder /data/fma

``ssl.yaml`` (b_s = 0) and ``supervised.yaml`` (b_s = 1) are the two corners; p_s is
``labeled_data_fraction`` (0.05 in the paper's headline result). The manifests are
prepared once (``recipes/MagnaTagATune/magnatagatune_prepare.py`` and
``recipes/FMA/fma_prepare.py``) into ``manifest_folder``; validation uses the MTAT
``c`` folder. Multi-GPU: ``torchrun --nproc_per_node=K ... --precision=bf16``.

The prepare scripts are linked into this folder (SpeechBrain's convention); the rest is
the Generic recipe's :func:`semisupcon_recipe.pretraining.run_pretraining`.
"""

import sys

import speechbrain as sb
from fma_prepare import prepare_fma
from hyperpyyaml import load_hyperpyyaml
from magnatagatune_prepare import prepare_magnatagatune

from semisupcon_recipe.pretraining import run_pretraining

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)

    # Data preparation: the MTAT manifests, and the FMA one when the yaml uses an unlabeled pool.
    sb.utils.distributed.run_on_main(
        prepare_magnatagatune, kwargs={"data_folder": hparams["data_folder"], "save_folder": hparams["manifest_folder"]}
    )
    if hparams["unlabeled_manifest"]:
        sb.utils.distributed.run_on_main(
            prepare_fma,
            kwargs={"data_folder": hparams["fma_folder"], "save_folder": hparams["manifest_folder"], "subset": hparams["fma_subset"]},
        )
    run_pretraining(hparams_file, run_opts, overrides, hparams)
