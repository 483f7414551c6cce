"""Diagnostics of the supervision in the demo's pretrainings (issue: is it used, is it memorised).

- :func:`positive_shares`: from the objective's statistics in a run's ``train_log.txt``
  (computed on the logged steps), the label-derived positives per labeled anchor and
  their share of all positives in a batch;
- :func:`labeled_draw_counts`: how many times each labeled clip was drawn, by replaying
  the run's batch sampler (:func:`replay_sampler`; it is deterministic given the seed
  and the epoch, and with ``labeled_sampling: pairs`` given the pairs of
  :func:`labeled_partners`);
- :func:`memorisation_gap`: the supervised label's probe score on the labeled
  pretraining clips minus its score on held-out test clips (the demo's
  ``<label>_on_labeled_clips`` task).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from statistics import median

from semisupcon_recipe.demo.settings import DemoSettings

LOGGED = ("positives_self", "positives_label", "labeled_fraction")


def positive_shares(train_log: Path) -> dict | None:
    """Label-derived positives of a run, averaged over its epochs' logged steps.

    Returns None when no epoch line has the SemiSupCon objective's statistics (a run
    without that objective, e.g. BEST-RQ alone), else ``label_positives_per_labeled_anchor`` (views of other clips with a matching
    label, per labeled view), ``label_share_per_labeled_anchor`` (their share of that
    anchor's positives) and ``label_share_per_batch`` (share of all positive pairs of a
    batch that come from labels); all 0 for SSL-only.

    Example
    -------
    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "train_log.txt"
    >>> _ = log.write_text("epoch: 1, optimizer_step: 50 - train loss: 3.6, train positives_self: 1.00e+00, "
    ...                    "train positives_label: 2.50e-01, train labeled_fraction: 2.50e-01\\n")
    >>> positive_shares(log)
    {'label_positives_per_labeled_anchor': 1.0, 'label_share_per_labeled_anchor': 0.5, 'label_share_per_batch': 0.2}
    """
    sums = dict.fromkeys(LOGGED, 0.0)
    epochs = 0
    for line in train_log.read_text(encoding="utf-8").splitlines():
        values = {name: re.search(rf"train {name}: ([\d.e+-]+)", line) for name in LOGGED}
        if all(values.values()):
            epochs += 1
            for name, match in values.items():
                sums[name] += float(match.group(1))
    if not epochs:
        return None
    same_clip, from_labels, labeled = (sums[name] / epochs for name in LOGGED)
    per_labeled = from_labels / labeled if labeled else 0.0
    return {
        "label_positives_per_labeled_anchor": round(per_labeled, 4),
        "label_share_per_labeled_anchor": round(per_labeled / (per_labeled + same_clip), 4) if per_labeled else 0.0,
        "label_share_per_batch": round(from_labels / (from_labels + same_clip), 4),
    }


def labeled_partners(labeled_manifest: Path, similarity) -> list:
    """Each clip of a labeled manifest's positives (row positions) under a label similarity.

    What a pretraining with ``labeled_sampling: pairs`` pairs: the labeled pool in
    manifest order (the demo's pool is already the p_s draw), its labels encoded for
    ``similarity.supervision``, :func:`~semisupcon_recipe.sampling.label_partners` as the
    recipe computes them (``similarity`` is the loss's
    :class:`~semisupcon_recipe.label_similarity.LabelSimilarity`).

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.label_similarity import LabelSimilarity
    >>> from semisupcon_recipe.manifest import write_manifest
    >>> manifest = Path(tempfile.mkdtemp()) / "labeled_instruments.csv"
    >>> cells = ["piano;drums", "bass", "drums", "organ"]
    >>> _ = write_manifest(manifest, [{"ID": f"c{i}", "duration": 3, "wav": "x.wav", "labels": cell} for i, cell in enumerate(cells)])
    >>> [row.tolist() for row in labeled_partners(manifest, LabelSimilarity("multilabel", threshold=1))]
    [[2], [], [0], []]
    """
    import torch

    from semisupcon_recipe.manifest import LabelVocabulary, read_manifest
    from semisupcon_recipe.sampling import label_partners

    rows = read_manifest(labeled_manifest)
    vocabulary = LabelVocabulary.from_cells(similarity.supervision, [row["labels"] for row in rows.values()])
    labels = torch.stack([vocabulary.encode(row["labels"], where=f"{labeled_manifest}, ID {item_id}")
                          for item_id, row in rows.items()])  # (L,) or (L, C)
    return label_partners(labels, similarity)


def replay_sampler(settings: DemoSettings, seed: int, labeled: int, unlabeled: int, partners: list | None = None):
    """The batch sampler of a demo pretraining, rebuilt: its pools (the ``labeled`` clips
    first, as the recipe orders them), batch size, ``b_s``, seed and epoch length, and
    with ``settings.labeled_sampling == "pairs"`` the ``partners`` of :func:`labeled_partners`.

    Example
    -------
    >>> sampler = replay_sampler(DemoSettings(batch_size=8, labeled_sampling="pairs"), 0, 4, 40, [[1], [0], [3], [2]])
    >>> sampler.set_epoch(1)
    >>> sorted(index for index in next(iter(sampler)) if index < 4) in ([0, 1], [2, 3])
    True
    """
    from semisupcon_recipe.sampling import MixedLabelBatchSampler

    if settings.labeled_sampling == "pairs" and partners is None:
        raise ValueError("labeled_sampling: pairs is replayed with the labeled clips' partners; pass partners=labeled_partners(...)")
    return MixedLabelBatchSampler(
        range(labeled), range(labeled, labeled + unlabeled), settings.batch_size, settings.labeled_share,
        seed=seed, batches_per_epoch=settings.batches_per_epoch,
        labeled_partners=partners if settings.labeled_sampling == "pairs" else None,
    )


def labeled_draw_counts(settings: DemoSettings, seed: int, labeled: int, unlabeled: int,
                        partners: list | None = None) -> list[int]:
    """Draws of each of the ``labeled`` clips over a run's ``settings.epochs`` epochs.

    Replays the run's :class:`~semisupcon_recipe.sampling.MixedLabelBatchSampler`
    (:func:`replay_sampler`; ``partners`` with ``labeled_sampling: pairs``) over its
    epochs (SpeechBrain numbers epochs from 1).

    Example
    -------
    >>> counts = labeled_draw_counts(DemoSettings(epochs=2, batches_per_epoch=10, batch_size=8, labeled_sampling="uniform"), 0, labeled=4, unlabeled=40)
    >>> sum(counts), len(counts)  # 2 labeled clips in each of 20 batches
    (40, 4)
    """
    sampler = replay_sampler(settings, seed, labeled, unlabeled, partners)
    draws: Counter = Counter()
    for epoch in range(1, settings.epochs + 1):
        sampler.set_epoch(epoch)
        for batch in sampler:
            draws.update(index for index in batch if index < labeled)
    return [draws[index] for index in range(labeled)]


def draw_summary(counts: list[int]) -> dict:
    """Min, median and max draws per labeled clip.

    Example
    -------
    >>> draw_summary([3, 1, 2, 2])
    {'labeled_clips': 4, 'min': 1, 'median': 2.0, 'max': 3}
    """
    return {"labeled_clips": len(counts), "min": min(counts), "median": float(median(counts)), "max": max(counts)}


def memorisation_gap(results: dict, metric_of, label: str) -> dict:
    """The ``label`` probe on the labeled pretraining clips vs on the held-out test clips.

    ``results`` is an encoder's ``semisupcon evaluate`` output; ``metric_of(task)`` gives
    ``(metric, test scores)`` of one of its tasks; ``label`` is the supervised label type
    (its tasks ``label`` and ``<label>_on_labeled_clips``).
    """
    from semisupcon_recipe.demo.settings import labeled_clips_task

    tasks = {task["name"]: task for task in results["tasks"]}
    _, on_labeled = metric_of(tasks[labeled_clips_task(label)])
    _, held_out = metric_of(tasks[label])
    labeled, test = sum(on_labeled) / len(on_labeled), sum(held_out) / len(held_out)
    return {"task": labeled_clips_task(label), "labeled_clips": labeled, "held_out": test, "gap": labeled - test}
