"""metrics: accuracy, per-class and macro F1 and the confusion matrix against values worked out by
hand (with a class absent everywhere and one predicted but never true); the subject bootstrap."""
import numpy as np
import pytest

from metrics import bootstrap_by_subject, classification_metrics, confusion

# 5 labels in the label set; truth uses 0, 1, 2; class 3 is predicted once but never true;
# class 4 is neither true nor predicted.
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 0, 1, 1, 1, 3, 2, 2, 0]


def f1(precision, recall):
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def test_classification_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED, 5)
    # accuracy: windows 0,1,2 (class 0), 4,5 (class 1), 7,8 (class 2) are right: 7 of 10
    assert m['accuracy'] == pytest.approx(7 / 10)
    # class 0: predicted at 0,1,2,9 (4x), 3 right; true 4x       -> P 3/4, R 3/4
    # class 1: predicted at 3,4,5 (3x), 2 right; true 3x         -> P 2/3, R 2/3
    # class 2: predicted at 7,8 (2x), both right; true 3x        -> P 1,   R 2/3
    # class 3: predicted once (6), never true                    -> F1 0 (counted)
    # class 4: never true, never predicted                       -> excluded
    by_hand = [f1(3 / 4, 3 / 4), f1(2 / 3, 2 / 3), f1(1.0, 2 / 3), 0.0, None]
    assert by_hand[:4] == pytest.approx([0.75, 2 / 3, 0.8, 0.0])
    assert m['per_class_f1'][:4] == pytest.approx(by_hand[:4])
    assert m['per_class_f1'][4] is None
    assert m['macro_f1'] == pytest.approx((0.75 + 2 / 3 + 0.8 + 0.0) / 4)
    assert m['n'] == 10


def test_classification_metrics_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score
    rng = np.random.default_rng(0)
    for _ in range(20):
        n_classes = int(rng.integers(2, 8))
        y = rng.integers(0, n_classes, 40)
        p = np.where(rng.random(40) < 0.6, y, rng.integers(0, n_classes, 40))
        m = classification_metrics(y, p, n_classes + 2)               # two labels never used
        assert m['accuracy'] == pytest.approx(accuracy_score(y, p))
        assert m['macro_f1'] == pytest.approx(f1_score(y, p, average='macro'))
    assert classification_metrics(Y_TRUE, Y_PRED, 5)['macro_f1'] == pytest.approx(
        f1_score(Y_TRUE, Y_PRED, average='macro'))


def test_confusion_counts():
    cm = confusion(Y_TRUE, Y_PRED, 5)
    assert cm.tolist() == [[3, 1, 0, 0, 0],
                           [0, 2, 0, 1, 0],
                           [1, 0, 2, 0, 0],
                           [0, 0, 0, 0, 0],
                           [0, 0, 0, 0, 0]]
    assert classification_metrics(Y_TRUE, Y_PRED, 5)['confusion'] == cm.tolist()
    assert cm.sum() == 10 and cm.sum(1).tolist() == [4, 3, 3, 0, 0] and cm.sum(0).tolist() == [4, 3, 2, 1, 0]


def test_perfect_and_all_wrong():
    assert classification_metrics([0, 1, 2], [0, 1, 2], 3)['macro_f1'] == 1.0
    m = classification_metrics([0, 0, 1], [1, 1, 0], 3)
    assert m['accuracy'] == 0.0 and m['macro_f1'] == 0.0 and m['per_class_f1'] == [0.0, 0.0, None]


def test_no_windows_is_an_error():
    with pytest.raises(ValueError, match='no windows'):
        classification_metrics([], [], 3)


# ------------------------------------------------------------------ bootstrap over subjects

def subjects_data(n_subjects=10, per=20, seed=0):
    """Subjects of varying difficulty, 3 classes."""
    rng = np.random.default_rng(seed)
    y, p, s = [], [], []
    for i in range(n_subjects):
        yt = rng.integers(0, 3, per)
        hit = rng.random(per) < 0.5 + 0.4 * i / n_subjects
        y.append(yt)
        p.append(np.where(hit, yt, (yt + 1) % 3))
        s.append(np.full(per, f'subject{i}'))
    return np.concatenate(y), np.concatenate(p), np.concatenate(s)


def test_bootstrap_deterministic_for_a_seed():
    y, p, s = subjects_data()
    a = bootstrap_by_subject(y, p, s, 3, n_boot=200, seed=7)
    b = bootstrap_by_subject(y, p, s, 3, n_boot=200, seed=7)
    c = bootstrap_by_subject(y, p, s, 3, n_boot=200, seed=8)
    assert a == b
    assert a != c
    assert a['n_subjects'] == 10 and a['n_boot'] == 200 and a['level'] == 0.95


def test_bootstrap_interval_contains_the_point_estimate():
    y, p, s = subjects_data()
    ci = bootstrap_by_subject(y, p, s, 3, n_boot=500, seed=0)
    point = classification_metrics(y, p, 3)
    for key in ('accuracy', 'macro_f1'):
        lo, hi = ci[key]
        assert 0 <= lo < point[key] < hi <= 1, key
        assert hi - lo < 0.5
    # a narrower level gives a narrower interval
    ci50 = bootstrap_by_subject(y, p, s, 3, n_boot=500, seed=0, level=0.5)
    for key in ('accuracy', 'macro_f1'):
        assert ci[key][0] <= ci50[key][0] <= ci50[key][1] <= ci[key][1]


def test_bootstrap_resamples_whole_subjects():
    """Two subjects, one always right and one always wrong: every resample is one of
    {a twice, b twice, one each}, so accuracy takes only the values 1, 0 and 4/6; a
    window-level bootstrap would give many values in between."""
    y = np.array([0, 1, 0, 1, 0, 1])
    p = np.array([0, 1, 0, 1, 1, 0])
    s = np.array(['a', 'a', 'a', 'a', 'b', 'b'])
    ci = bootstrap_by_subject(y, p, s, 2, n_boot=300, seed=0, level=0.99)
    assert ci['accuracy'][0] == pytest.approx(0.0) and ci['accuracy'][1] == pytest.approx(1.0)


def test_bootstrap_with_one_subject_returns_none():
    assert bootstrap_by_subject([0, 1, 1], [0, 1, 0], ['a', 'a', 'a'], 2) is None
