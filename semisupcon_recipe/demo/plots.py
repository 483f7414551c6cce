"""The demo report's plots: training curves, the target matrix of one batch, a t-SNE
map of the probe test embeddings (tonic on the circle of fifths as colour, mode as marker)
and, with ``--budgets``, the compute curve (probe score vs optimizer steps)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from semisupcon_recipe.demo.settings import TITLES, DemoSettings

MODE_MARKERS = {"major": "o", "minor": "^"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_training_curve(train_log: Path) -> tuple[list[int], list[float]]:
    """``(optimizer steps, train losses)`` per epoch from a SpeechBrain ``train_log.txt``."""
    steps, losses = [], []
    for line in train_log.read_text(encoding="utf-8").splitlines():
        match = re.search(r"optimizer_step: (\d+) - train loss: ([\d.e+-]+)", line)
        if match:
            steps.append(int(match.group(1)))
            losses.append(float(match.group(2)))
    return steps, losses


def plot_training_curves(runs: dict[str, dict[int, Path]], path: Path) -> Path:
    """Training loss vs optimizer step of every pretraining run."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for (model, by_seed), colour in zip(runs.items(), ("tab:blue", "tab:red")):
        for seed, output in by_seed.items():
            steps, losses = read_training_curve(output / "train_log.txt")
            axis.plot(steps, losses, color=colour, alpha=0.8, label=f"{TITLES[model]} (seed {seed})")
    axis.set(xlabel="optimizer step", ylabel="training loss", title="Pretraining")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_compute_curve(tables: list[dict], path: Path) -> Path:
    """Probe score vs optimizer steps: one panel per probe task, one line per model, the
    standard deviation over seeds as error bars.

    ``tables`` are the report's compute-curve tables (``pair`` and ``rows`` of
    :func:`~semisupcon_recipe.demo.report.curve_rows`), one per pair of models.
    """
    plt = _pyplot()
    tasks = list(dict.fromkeys(row["task"] for row in tables[0]["rows"]))
    figure, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.4), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        for table in tables:
            rows = [row for row in table["rows"] if row["task"] == task]
            for model in table["pair"]:
                axis.errorbar([row["steps"] for row in rows], [100 * row[model]["mean"] for row in rows],
                              yerr=[100 * row[model]["std"] for row in rows], marker="o", capsize=3, label=TITLES[model])
        supervised = " (supervised)" if rows[0]["supervised"] else ""
        axis.set(title=f"{task}{supervised}", xlabel="optimizer steps", ylabel=f"{rows[0]['metric']} (%)", xscale="log")
        axis.set_xticks([row["steps"] for row in rows], [str(row["steps"]) for row in rows])
        axis.minorticks_off()
    axes[0][0].legend(fontsize=7)
    figure.suptitle("Probe score vs pretraining steps (mean ± std over seeds)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_target_matrix(labeled_manifest: Path, pretrain_manifest: Path, settings: DemoSettings, similarity, path: Path) -> Path:
    """The SemiSupCon target matrix of one mixed batch (same clip, or a positive under the
    loss's label ``similarity``; :func:`~.models.supervised_label_similarity`).

    The batch is the first of the run's sampler (:func:`~.diagnostics.replay_sampler`, batch
    size at most 16, seed 0): with ``labeled_sampling: pairs`` its labeled clips come in pairs.
    """
    import torch

    from semisupcon_recipe.demo.diagnostics import labeled_partners, replay_sampler
    from semisupcon_recipe.manifest import LabelVocabulary, read_manifest
    from semisupcon_recipe.objectives import target_matrix

    plt = _pyplot()
    labeled = read_manifest(labeled_manifest)
    unlabeled = [item for item in read_manifest(pretrain_manifest) if item not in labeled]
    vocabulary = LabelVocabulary.from_cells(similarity.supervision, [row["labels"] for row in labeled.values()])
    ids = list(labeled) + unlabeled
    partners = labeled_partners(labeled_manifest, similarity) if settings.labeled_sampling == "pairs" else None
    example = replace(settings, batch_size=min(settings.batch_size, 16))
    batch = next(iter(replay_sampler(example, 0, len(labeled), len(unlabeled), partners)))
    is_labeled = torch.tensor([index < len(labeled) for index in batch])  # (B,)
    labels = torch.stack([
        vocabulary.encode(labeled[ids[index]]["labels"]) if index < len(labeled) else vocabulary.empty() for index in batch
    ])  # (B,) or (B, C)
    views = 2
    matrix = target_matrix(
        torch.arange(len(batch)).repeat_interleave(views), labels.repeat_interleave(views, dim=0),
        is_labeled.repeat_interleave(views), supervision=similarity.supervision,
        multilabel_similarity=similarity.multilabel_similarity, threshold=similarity.threshold, radius=similarity.radius,
        label_weight=similarity.weight,
    )  # (V, V)
    figure, axis = plt.subplots(figsize=(5, 4.5))
    axis.imshow(matrix.numpy(), cmap="Greys", vmin=0, vmax=1)
    count = int(is_labeled.sum()) * views
    axis.axhline(count - 0.5, color="tab:red", linewidth=1)
    axis.axvline(count - 0.5, color="tab:red", linewidth=1)
    positives = "same clip only: label control" if settings.label_control else f"same clip or {settings.supervised_label} positive"
    sampling = f", {settings.labeled_sampling} sampling" if not settings.label_control else ""
    axis.set(title=f"Target matrix of one batch\n(labeled views first: {positives}{sampling})", xlabel="view", ylabel="view")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def fifths_position(key: str) -> tuple[int, str]:
    """Position of a key's tonic on the circle of fifths (C = 0, G = 1, ..., F = 11) and its mode.

    Example
    -------
    >>> fifths_position("C major"), fifths_position("G minor"), fifths_position("F major"), fifths_position("F# minor")
    ((0, 'major'), (1, 'minor'), (11, 'major'), (6, 'minor'))
    """
    from mir_eval.key import KEY_TO_SEMITONE

    tonic, mode = key.split()
    return KEY_TO_SEMITONE[tonic.lower()] * 7 % 12, mode


def plot_embedding_map(checkpoints: dict[str, Path], manifest: Path, cache: Path, device: str, path: Path) -> Path:
    """t-SNE maps of the probe test embeddings of each encoder: tonic on the circle of fifths
    as colour (a cyclic colormap, so neighbouring keys get neighbouring colours), mode as marker."""
    import numpy as np
    from sklearn.manifold import TSNE

    from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
    from semisupcon_recipe.features import FeatureCache
    from semisupcon_recipe.manifest import read_manifest

    plt = _pyplot()
    colours = plt.get_cmap("hsv")  # cyclic: C and F are neighbours, as on the circle
    rows = read_manifest(manifest)
    figure, axes = plt.subplots(1, len(checkpoints), figsize=(5 * len(checkpoints) + 1.5, 4.5))
    for axis, (model, checkpoint) in zip(np.atleast_1d(axes), checkpoints.items()):
        encoder = load_encoder_from_checkpoint(checkpoint)
        embeddings = FeatureCache(encoder.module, manifest, cache, encoder.clip_len, 64).embeddings(device=device)
        points = embeddings.track_means().numpy()  # (M, D)
        coordinates = TSNE(n_components=2, perplexity=min(30, len(points) - 1), random_state=0).fit_transform(points)  # (M, 2)
        keys = [fifths_position(rows[item]["labels"]) for item in embeddings.ids]
        for mode, marker in MODE_MARKERS.items():
            chosen = np.array([key_mode == mode for _, key_mode in keys])  # (M,)
            positions = np.array([position for position, _ in keys])[chosen]
            axis.scatter(coordinates[chosen, 0], coordinates[chosen, 1], c=colours(positions / 12), marker=marker, s=16,
                         edgecolors="black", linewidths=0.2)
        axis.set(title=f"{TITLES[model]}: probe test clips", xticks=[], yticks=[])
    figure.legend(handles=_key_legend(colours), loc="center right", fontsize=7, title="tonic (fifths) / mode")
    figure.tight_layout(rect=(0, 0, 1 - 1.5 / (5 * len(checkpoints) + 1.5), 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _key_legend(colours) -> list:
    """Legend handles: the 12 tonics in circle-of-fifths order, then the two mode markers."""
    from matplotlib.lines import Line2D

    tonics = ("C", "G", "D", "A", "E", "B", "F#", "Db", "Ab", "Eb", "Bb", "F")
    handles = [Line2D([], [], linestyle="", marker="s", color=colours(index / 12), label=tonic) for index, tonic in enumerate(tonics)]
    handles += [Line2D([], [], linestyle="", marker=marker, color="grey", label=mode) for mode, marker in MODE_MARKERS.items()]
    return handles
