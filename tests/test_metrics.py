"""Probe metrics agree with scikit-learn and mir_eval and survive degenerate test sets."""

from __future__ import annotations

import logging

import mir_eval
import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, average_precision_score, r2_score, roc_auc_score

from semisupcon_recipe.metrics import (
    accuracy,
    compute_metrics,
    is_key_vocabulary,
    mirex_key_score,
    multilabel_metrics,
    r2,
)

KEYS = [f"{tonic} {mode}" for tonic in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
        for mode in ("major", "minor")]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multilabel_metrics_match_sklearn_macro_averages(seed):
    rng = np.random.default_rng(seed)
    targets = (rng.random((200, 12)) < 0.3).astype(int)
    scores = rng.normal(size=(200, 12)) + targets  # informative but imperfect
    result = compute_metrics("multilabel", scores, targets)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(targets, scores, average="macro"), abs=1e-6)
    assert result["pr_auc"] == pytest.approx(average_precision_score(targets, scores, average="macro"), abs=1e-6)
    assert result["scored_tags"] == 12 and result["excluded_tags"] == []


def test_tags_without_positives_or_negatives_are_excluded_and_reported(caplog):
    rng = np.random.default_rng(3)
    targets = (rng.random((50, 5)) < 0.4).astype(int)
    targets[:, 1] = 0  # no positive in this set
    targets[:, 3] = 1  # no negative in this set
    scores = rng.random((50, 5))
    with caplog.at_level(logging.WARNING, logger="semisupcon_recipe.metrics"):
        result = multilabel_metrics(scores, targets, names=list("abcde"), task="mtat")
    kept = [0, 2, 4]
    assert result["excluded_tags"] == ["b", "d"] and result["scored_tags"] == 3
    assert result["roc_auc"] == pytest.approx(roc_auc_score(targets[:, kept], scores[:, kept]), abs=1e-6)
    assert result["pr_auc"] == pytest.approx(average_precision_score(targets[:, kept], scores[:, kept]), abs=1e-6)
    assert "mtat: 2 of 5 tag(s)" in caplog.text and "b, d" in caplog.text


def test_no_scorable_tag_gives_nan_not_a_crash():
    result = multilabel_metrics(np.random.rand(4, 2), np.zeros((4, 2)))
    assert np.isnan(result["roc_auc"]) and np.isnan(result["pr_auc"]) and result["excluded_tags"] == ["0", "1"]


def test_multilabel_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        multilabel_metrics(np.zeros((4, 3)), np.zeros((4, 2)))


def test_accuracy_and_r2_match_sklearn_on_tensors_and_arrays():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(300, 10))
    targets = rng.integers(0, 10, 300)
    assert accuracy(torch.from_numpy(scores), torch.from_numpy(targets)) == pytest.approx(
        accuracy_score(targets, scores.argmax(1)), abs=1e-12)
    truth = rng.normal(size=(300, 2)) * [1.0, 10.0]
    predictions = truth + rng.normal(size=(300, 2))
    assert r2(predictions, truth) == pytest.approx(r2_score(truth, predictions, multioutput="uniform_average"), abs=1e-6)
    assert compute_metrics("regression", predictions, truth) == {"r2": pytest.approx(r2(predictions, truth), abs=1e-12)}


def test_key_tasks_add_the_mirex_weighted_score():
    rng = np.random.default_rng(5)
    targets = rng.integers(0, len(KEYS), 400)
    scores = rng.normal(size=(400, len(KEYS)))
    scores[np.arange(400), targets] += 1.5
    result = compute_metrics("multiclass", scores, targets, names=KEYS, task="giantsteps_key")
    expected = np.mean([mir_eval.key.weighted_score(KEYS[t], KEYS[p]) for t, p in zip(targets, scores.argmax(1))])
    assert result["mirex"] == pytest.approx(expected, abs=1e-6)
    assert result["accuracy"] == pytest.approx(accuracy_score(targets, scores.argmax(1)), abs=1e-12)
    assert result["mirex"] >= result["accuracy"]  # partial credit only adds
    # the weights themselves: fifth 0.5, relative 0.3, parallel 0.2
    assert mirex_key_score(["G major", "A minor", "C minor", "F# major"], ["C major"] * 4) == pytest.approx(0.25)


def test_key_scoring_is_chosen_by_names_or_forced_by_task():
    assert is_key_vocabulary(KEYS) and not is_key_vocabulary(["rock", "jazz"]) and not is_key_vocabulary(None)
    genre = compute_metrics("multiclass", np.eye(2), np.array([0, 1]), names=["rock", "jazz"])
    assert set(genre) == {"accuracy"}
    with pytest.raises(ValueError, match="scored as a key task but its class names"):
        compute_metrics("multiclass", np.eye(2), np.array([0, 1]), names=["rock", "jazz"], task="key")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown task kind 'ranking'"):
        compute_metrics("ranking", np.zeros((2, 2)), np.zeros(2))
