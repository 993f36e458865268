"""Classification metrics (numpy): accuracy, per-class and macro F1, confusion matrix, and a
bootstrap over subjects for confidence intervals.

Macro-F1 averages the F1 of every class that occurs in the true labels or the predictions
(scikit-learn's default): a class predicted but never present scores F1 = 0, a class in the
label list that is neither present nor predicted is left out.
"""
import numpy as np


def confusion(y_true, y_pred, n_classes):
    """(N,), (N,) ints in 0..n-1 -> (n, n) counts, rows = truth, columns = prediction."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def per_class_f1(cm):
    """(n, n) confusion -> F1 per class (n,), NaN for classes neither present nor predicted."""
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    denom = support + predicted
    with np.errstate(invalid='ignore', divide='ignore'):
        f1 = np.where(denom > 0, 2 * tp / denom, np.nan)
    return f1


def classification_metrics(y_true, y_pred, n_classes):
    """-> dict: accuracy, macro_f1, per_class_f1 (list, NaN = absent), confusion (list of lists), n."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        raise ValueError('no windows to score')
    cm = confusion(y_true, y_pred, n_classes)
    f1 = per_class_f1(cm)
    return {'accuracy': float((y_true == y_pred).mean()), 'macro_f1': float(np.nanmean(f1)),
            'per_class_f1': [None if np.isnan(v) else float(v) for v in f1],
            'confusion': cm.tolist(), 'n': int(len(y_true))}


def bootstrap_by_subject(y_true, y_pred, subjects, n_classes, n_boot=1000, seed=0, level=0.95):
    """Percentile intervals of accuracy and macro-F1, resampling whole subjects with
    replacement (windows of one subject are not independent). Deterministic for a seed.
    -> {'accuracy': (lo, hi), 'macro_f1': (lo, hi), 'n_subjects': S} or None with < 2 subjects."""
    y_true, y_pred, subjects = map(np.asarray, (y_true, y_pred, subjects))
    ids = np.unique(subjects)
    if len(ids) < 2:
        return None
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(subjects == s) for s in ids]
    acc, f1 = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        m = classification_metrics(y_true[idx], y_pred[idx], n_classes)
        acc[b], f1[b] = m['accuracy'], m['macro_f1']
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {'accuracy': tuple(np.percentile(acc, q).tolist()), 'macro_f1': tuple(np.percentile(f1, q).tolist()),
            'n_subjects': int(len(ids)), 'n_boot': n_boot, 'level': level}
