"""Downstream metrics of the probing protocol (METHOD.md section 9).

Multi-label tasks report macro ROC-AUC and macro PR-AUC (average precision), multi-class
tasks accuracy, key tasks add the MIREX weighted key score, regression tasks R²
averaged over outputs. The numbers come from scikit-learn and mir_eval; this module
only picks them per task and handles the degenerate cases: a tag with no positive (or
no negative) in the evaluated set has no ROC-AUC, so it is left out of both macro
averages, named in ``excluded_tags`` and logged, instead of crashing the run.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, r2_score, roc_auc_score

logger = logging.getLogger(__name__)

METRICS_BY_KIND: dict[str, tuple[str, ...]] = {
    "multilabel": ("roc_auc", "pr_auc"),
    "multiclass": ("accuracy",),
    "regression": ("r2",),
}
KEY_METRIC = "mirex"
KEY_TASK = "key"


def _as_numpy(values: object) -> np.ndarray:
    """Turn a tensor, list or array into a numpy array (detached, on CPU)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def scorable_tags(targets: np.ndarray) -> np.ndarray:
    """Boolean mask of the tags that have both positives and negatives in ``targets``.

    Parameters
    ----------
    targets : array (N, C)
        Multi-hot ground truth.

    Example
    -------
    >>> scorable_tags(np.array([[1, 0, 1], [0, 0, 1]])).tolist()
    [True, False, False]
    """
    targets = _as_numpy(targets)
    positives = targets.sum(axis=0)
    return (positives > 0) & (positives < targets.shape[0])


def multilabel_metrics(scores: object, targets: object, names: Sequence[str] | None = None, task: str | None = None) -> dict:
    """Macro ROC-AUC and macro PR-AUC over the tags that can be scored.

    Parameters
    ----------
    scores : array (N, C)
        Any monotone score per tag (logits or probabilities).
    targets : array (N, C)
        Multi-hot ground truth.
    names : sequence of str, optional
        Tag names, used to report the excluded tags (indices otherwise).
    task : str, optional
        Task name for the log message.

    Returns
    -------
    dict
        ``roc_auc``, ``pr_auc`` (floats, NaN if no tag can be scored),
        ``scored_tags`` (int) and ``excluded_tags`` (names of the tags with no
        positive or no negative example, left out of both averages).

    Example
    -------
    >>> targets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    >>> scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.5], [0.7, 0.6, 0.1], [0.1, 0.3, 0.2]])
    >>> result = multilabel_metrics(scores, targets, names=["rock", "jazz", "harp"])
    >>> result["roc_auc"], result["pr_auc"], result["excluded_tags"]
    (1.0, 1.0, ['harp'])
    """
    scores, targets = _as_numpy(scores).astype(np.float64), _as_numpy(targets).astype(np.int64)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f"multi-label scores {scores.shape} and targets {targets.shape} must both be (N, C)")
    keep = scorable_tags(targets)
    names = list(names) if names is not None else [str(index) for index in range(targets.shape[1])]
    excluded = [name for name, kept in zip(names, keep) if not kept]
    if excluded:
        logger.warning(
            "%s: %d of %d tag(s) have no positive or no negative example in this set and are left "
            "out of the macro averages: %s",
            task or "multi-label metrics", len(excluded), len(names), ", ".join(excluded),
        )
    if not keep.any():
        roc_auc = pr_auc = float("nan")
    else:
        roc_auc = float(roc_auc_score(targets[:, keep], scores[:, keep], average="macro"))
        pr_auc = float(average_precision_score(targets[:, keep], scores[:, keep], average="macro"))
    return {"roc_auc": roc_auc, "pr_auc": pr_auc, "scored_tags": int(keep.sum()), "excluded_tags": excluded}


def accuracy(scores: object, targets: object) -> float:
    """Fraction of items whose highest-scoring class is the target class.

    Parameters
    ----------
    scores : array (N, C)
        Class scores (logits or probabilities).
    targets : array (N,)
        Class indices.

    Example
    -------
    >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), np.array([1, 0, 0]))
    0.666...
    """
    return float(accuracy_score(_as_numpy(targets), _as_numpy(scores).argmax(axis=1)))


def mirex_key_score(estimated_keys: Sequence[str], reference_keys: Sequence[str]) -> float:
    """Mean MIREX weighted key score (``mir_eval.key.weighted_score``) over items.

    Correct key 1, perfect fifth 0.5, relative major/minor 0.3, parallel 0.2, else 0.

    Example
    -------
    >>> mirex_key_score(["C major", "G major", "A minor"], ["C major", "C major", "C major"])
    0.6
    """
    import mir_eval

    if len(estimated_keys) != len(reference_keys):
        raise ValueError(f"{len(estimated_keys)} estimated keys for {len(reference_keys)} references")
    if not reference_keys:
        return float("nan")
    return float(np.mean([mir_eval.key.weighted_score(ref, est) for ref, est in zip(reference_keys, estimated_keys)]))


def is_key_vocabulary(names: Sequence[str] | None) -> bool:
    """True if every class name is a key string mir_eval understands (``'C major'``...).

    Example
    -------
    >>> is_key_vocabulary(["C major", "A minor", "Bb major"]), is_key_vocabulary(["rock", "jazz"])
    (True, False)
    """
    import mir_eval

    if not names:
        return False
    for name in names:
        try:
            mir_eval.key.validate_key(name)
        except ValueError:
            return False
    return True


def r2(predictions: object, targets: object) -> float:
    """Coefficient of determination averaged uniformly over outputs.

    Parameters
    ----------
    predictions, targets : array (N,) or (N, K)

    Example
    -------
    >>> round(r2(np.array([[1.0, 2.0], [2.0, 4.1], [3.0, 6.0]]), np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])), 4)
    0.9994
    """
    return float(r2_score(_as_numpy(targets), _as_numpy(predictions), multioutput="uniform_average"))


def compute_metrics(
    kind: str,
    scores: object,
    targets: object,
    names: Sequence[str] | None = None,
    task: str | None = None,
) -> dict:
    """All metrics of a task, chosen by its supervision kind.

    Parameters
    ----------
    kind : str
        ``"multilabel"`` (roc_auc, pr_auc), ``"multiclass"`` (accuracy) or
        ``"regression"`` (r2).
    scores : array (N, C) or (N, K)
        Head outputs: tag or class scores, or regression predictions.
    targets : array
        Multi-hot ``(N, C)``, class indices ``(N,)`` or regression targets ``(N, K)``.
    names : sequence of str, optional
        Tag or class names in index order.
    task : str, optional
        Task name (used in messages). A multi-class task adds the MIREX weighted key
        score (``mirex``) when ``task`` is ``"key"`` or every class name is a key
        string such as ``"C major"``.

    Returns
    -------
    dict
        Metric name -> float; multi-label results also carry ``scored_tags`` and
        ``excluded_tags``.

    Example
    -------
    >>> scores = np.array([[2.0, 0.1], [0.3, 1.5], [1.0, 0.2]])
    >>> compute_metrics("multiclass", scores, np.array([0, 1, 1]), names=["C major", "A minor"])
    {'accuracy': 0.666..., 'mirex': 0.766...}
    >>> compute_metrics("regression", np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]))
    {'r2': 1.0}
    """
    if kind == "multilabel":
        return multilabel_metrics(scores, targets, names, task)
    if kind == "multiclass":
        result = {"accuracy": accuracy(scores, targets)}
        if task == KEY_TASK or is_key_vocabulary(names):
            if not is_key_vocabulary(names):
                raise ValueError(
                    f"task {task!r} is scored as a key task but its class names {list(names or [])[:5]}... "
                    f"are not key strings like 'C major' / 'A minor'; fix the labels in the manifest"
                )
            estimated = [names[index] for index in _as_numpy(scores).argmax(axis=1)]
            reference = [names[index] for index in _as_numpy(targets).astype(int)]
            result[KEY_METRIC] = mirex_key_score(estimated, reference)
        return result
    if kind == "regression":
        return {"r2": r2(scores, targets)}
    raise ValueError(f"unknown task kind {kind!r}; use one of {sorted(METRICS_BY_KIND)}")
