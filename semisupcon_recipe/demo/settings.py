"""What one demo run is: its sizes (:class:`DemoSettings`), its models and its probe tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from semisupcon_recipe.cli_options import UsageError

PRETRAIN_YAML = Path(__file__).with_name("pretrain.yaml")
BESTRQ_YAML = Path(__file__).with_name("pretrain_bestrq.yaml")
MODELS = {"ssl": "SSL-only", "semisupcon": "SemiSupCon"}
# --ssl-objective: name -> (the method alone, the method mixed with SemiSupCon)
SSL_MIX_MODELS = {"bestrq": {"bestrq": "BEST-RQ", "bestrq_semisupcon": "BEST-RQ + SemiSupCon"}}
# Baselines probed like the pretrained encoders: features computed without any training,
# and each pair's encoder as its pretraining starts (random initialisation, same seed).
HANDCRAFTED = "handcrafted"
RANDOM_INIT = {"ssl": "random", "bestrq": "bestrq_random"}  # the SSL model of a pair -> its random-init baseline
BASELINE_TITLES = {
    HANDCRAFTED: "MFCC + chroma + contrast (no training)",
    "random": "x-vector TDNN, random init",
    "bestrq_random": "Conformer, random init",
}
TITLES = {
    **MODELS, **{name: title for pair in SSL_MIX_MODELS.values() for name, title in pair.items()}, **BASELINE_TITLES,
}
SUPERVISED_MODELS = ("semisupcon", "bestrq_semisupcon")  # the models that see the labels of DemoSettings.supervised_label
# --supervised-label: the label types the supervised models can see (style: only in data synthesized with styles)
SUPERVISED_LABELS = ("key", "style", "instruments")
PROBE_LABELS = ("key", "mode", "tempo", "instruments")  # probed in every demo; style too when the data has it
ROBUSTNESS_TASK = "key"  # the probe task of the robustness check (and the t-SNE map's colours)
CONTROL_MANIFEST = "labeled_control.csv"  # in models/semisupcon/, for --label-control


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and choices of one demo run (most fields are command-line options too).

    ``supervised_label`` is the label type the supervised models (:data:`SUPERVISED_MODELS`)
    see: ``key``, ``style`` (the data is then synthesized with styles and probed on them
    too) or ``instruments`` (multi-label: ``supervision: multilabel``, the yaml's
    threshold similarity). ``labeled_sampling`` and ``label_weight`` are the pretraining
    yaml's keys of the same names, given to the supervised pretrainings only.
    """

    num_clips: int = 4800
    clip_seconds: float = 3.0
    probe_clips: tuple[int, int, int] = (480, 120, 240)
    labeled_fraction: float = 0.05
    labeled_share: float = 0.25
    temperature: float = 0.2
    label_control: bool = False
    supervised_label: str = "key"
    labeled_sampling: str = "pairs"  # uniform draws left key supervision within the seed spread (docs/findings.md)
    label_weight: float = 1.0
    ssl_objective: str | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_size: int = 32
    epochs: int = 6
    batches_per_epoch: int = 50
    budgets: tuple[int, ...] = ()  # compute curve: optimizer steps to probe at (empty: only epochs x batches_per_epoch)
    corruptions: tuple[str, ...] = ("chain", "reverb")
    severities: tuple[int, ...] = (0, 2, 4)
    data_seed: int = 0
    probe_threads: int = 2  # torch threads of feature extraction and probes (pretrainings: one each)
    # The tuned probe protocol's grid and iteration cap (those of hparams/probe/tuned.yaml).
    probe_weight_decays: tuple[float, ...] = (1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
    probe_max_iterations: int = 1000
    extra_overrides: dict = field(default_factory=dict)
    ssl_mix_overrides: dict = field(default_factory=dict)


def probe_labels(settings: DemoSettings) -> tuple[str, ...]:
    """The probe tasks of a demo: :data:`PROBE_LABELS`, and ``style`` when the data has styles.

    Example
    -------
    >>> probe_labels(DemoSettings(supervised_label="style"))
    ('key', 'mode', 'tempo', 'instruments', 'style')
    """
    return PROBE_LABELS + (("style",) if settings.supervised_label == "style" else ())


def labeled_clips_task(label: str) -> str:
    """The memorisation probe's task name: the ``label`` probe (trained on the probe train split)
    tested on the labeled pretraining clips instead of the held-out test clips; a model that
    memorised its labeled subset scores higher there than on held-out clips.

    Example
    -------
    >>> labeled_clips_task("style")
    'style_on_labeled_clips'
    """
    return f"{label}_on_labeled_clips"


def synth_config(settings: DemoSettings):
    """The synthesizer's config of the demo data: with the styles when (and only when) the supervised label is ``style``.

    Example
    -------
    >>> synth_config(DemoSettings()).styles, len(synth_config(DemoSettings(supervised_label="style")).styles)
    ((), 5)
    """
    from semisupcon_recipe.demo.synth_config import STYLE_NAMES, SynthConfig

    return SynthConfig(styles=STYLE_NAMES) if settings.supervised_label == "style" else SynthConfig()


class BudgetError(UsageError):
    """``--budgets`` that are not whole epochs of ``--batches-per-epoch`` steps (exit status 2)."""


def budget_epochs(budgets: tuple[int, ...], batches_per_epoch: int) -> tuple[int, ...]:
    """Pretraining epochs of each compute-curve budget (optimizer steps), smallest first.

    Example
    -------
    >>> budget_epochs((1000, 300, 3000), 50)
    (6, 20, 60)
    >>> try:
    ...     budget_epochs((300, 1010), 50)
    ... except BudgetError as error:
    ...     print(error)
    --budgets 1010: not a multiple of --batches-per-epoch 50 (budgets are whole epochs); pass e.g. 1000 or 1050, or another --batches-per-epoch
    """
    if not budgets or len(set(budgets)) != len(budgets) or min(budgets) <= 0:
        raise BudgetError(f"--budgets {' '.join(map(str, budgets))}: pass distinct positive optimizer step counts")
    for steps in sorted(budgets):
        if steps % batches_per_epoch:
            below = steps // batches_per_epoch * batches_per_epoch
            nearest = f"{below} or {below + batches_per_epoch}" if below else str(batches_per_epoch)
            raise BudgetError(
                f"--budgets {steps}: not a multiple of --batches-per-epoch {batches_per_epoch} (budgets are whole epochs); "
                f"pass e.g. {nearest}, or another --batches-per-epoch"
            )
    return tuple(steps // batches_per_epoch for steps in sorted(budgets))


# The settings a finished pretraining depends on (epochs excluded: more epochs resume).
PRETRAINING_SETTINGS = (
    "num_clips", "clip_seconds", "labeled_fraction", "labeled_share", "temperature", "label_control",
    "supervised_label", "labeled_sampling", "label_weight", "batch_size", "batches_per_epoch", "data_seed", "extra_overrides", "ssl_mix_overrides",
)

QUICK = DemoSettings(
    num_clips=48, probe_clips=(24, 12, 12), labeled_fraction=0.25, seeds=(0,), batch_size=8, epochs=1,
    batches_per_epoch=2, corruptions=("reverb",), severities=(0, 4), probe_weight_decays=(1e-4, 1e-2, 1.0),
    probe_max_iterations=100,
    extra_overrides={"tdnn_channels": [16, 16, 16, 16, 32], "embedding_dim": 32, "projection_dim": 16},
    ssl_mix_overrides={"n_mels": 20, "front_end_channels": [8, 4], "d_model": 16, "nhead": 2, "num_layers": 1,
                       "d_ffn": 32, "projection_dim": 8, "codebook_size": 32},
)
