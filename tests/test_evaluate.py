"""evaluate.py on the tiny Stage 2 checkpoint of the session (trained on the hapt sample): the
shipped spsw sample (unseen), --layout, the leakage refusal and --allow-seen, --random-init,
and a user's .npz in the rare shapes: a class with one window, a label never trained on, label
spellings, empty and all-NaN files, long and short windows, another rate, 3 and 9 channels."""
import json
from pathlib import Path

import numpy as np
import pytest

import evaluate
from conftest import one_thread

pytestmark = pytest.mark.usefixtures('one_torch_thread')

FAST = ['--repeats', '2', '--bootstrap', '50', '--device', 'cpu']
SPSW_LABELS = ['sitting', 'standing up', 'walking', 'turning', 'sitting down']
PNG = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def ckpt(stage2_run, text_model_once):
    return stage2_run / 'best.pt'


def run_eval(ckpt, data_root, out, *args):
    """evaluate.main -> (results dict as returned, results.json as written, out folder)."""
    res = evaluate.main([str(ckpt), '--data_root', str(data_root), '--out', str(out), *FAST, *args])
    with open(Path(out) / 'results.json') as f:
        written = json.load(f)
    return res, written, Path(out)


def refused(ckpt, data_root, out, *args):
    """The message of a refused run: one line starting with error:, exit status 2."""
    with pytest.raises(SystemExit) as e:
        evaluate.main([str(ckpt), '--data_root', str(data_root), '--out', str(out), *FAST, *args])
    assert e.value.code == 2 and str(e.value).startswith('error:'), e.value
    return str(e.value)


def windows(n, seconds, rate, channels=6, seed=0):
    """Synthetic IMU windows (n, T, C): gravity on acc z, a rhythm per window, noise; a 9-axis
    layout gets a magnetometer-like field on the last three channels."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    X = rng.normal(0, 0.3, (n, len(t), channels)).astype(np.float32)
    X[..., 2] += 9.81
    X[..., :3] += 2 * np.sin(2 * np.pi * rng.uniform(0.5, 2.5, (n, 1, 1)) * t[None, :, None])
    if channels == 9:
        X[..., 6:] += np.array([20.0, -5.0, 40.0], np.float32)
    return X


def save_npz(path, X, y, rate=50.0, channels=None, subjects=None):
    channels = channels or ['acc_x', 'acc_y', 'acc_z', 'gyro_x', 'gyro_y', 'gyro_z'][:X.shape[2]]
    extra = {} if subjects is None else {'subjects': np.array(subjects)}
    np.savez(path, X=X, y=np.array(y), sampling_rate_hz=rate, channels=np.array(channels), **extra)
    return path


def check_zero_shot(zs, n_windows, labels):
    assert zs['labels'] == labels
    assert zs['n_windows'] == n_windows
    assert 0 <= zs['accuracy'] <= 1 and 0 <= zs['macro_f1'] <= 1
    cm = np.array(zs['confusion'])
    assert cm.shape == (len(labels), len(labels)) and cm.sum() == n_windows
    assert zs['accuracy'] == pytest.approx(np.trace(cm) / n_windows)
    assert sum(zs['support'].values()) == n_windows


# ------------------------------------------------------------------ the shipped sample, unseen

@pytest.fixture(scope='module')
def spsw(ckpt, empty_data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('eval_spsw')
    with one_thread():
        return run_eval(ckpt, empty_data_root, out, '--data', 'spsw')


def test_spsw_from_the_shipped_sample(spsw, ckpt):
    res, written, out = spsw
    assert written == json.loads(json.dumps(res))                    # the file is what main returned
    assert written['protocol'] == 'zero-shot: dataset unseen in training'
    assert written['kind'] == 'semantic_alignment' and written['random_init'] is False
    assert written['trained_on'].keys() == {'hapt'}
    assert Path(written['data']['path']) == Path(evaluate.SAMPLE_ROOT) / 'spsw'
    assert written['data']['subjects'] == ['s01', 's02', 's03', 's04'] and written['data']['layout'] is None
    zs = written['zero_shot']
    check_zero_shot(zs, written['data']['n_windows'], SPSW_LABELS)
    assert set(zs['unseen_labels']) == {'standing up', 'turning', 'sitting down'}   # not hapt labels
    lo, hi = zs['ci95']['accuracy']
    assert 0 <= lo <= hi <= 1 and zs['ci95']['n_boot'] == 50
    assert set(written['few_shot']) == {'1', '5', '10'}
    for k, v in written['few_shot'].items():
        assert 0 <= v['accuracy'] <= 1 and 0 <= v['macro_f1'] <= 1 and v['repeats'] == 2, k
    assert 0 <= written['linear_probe']['accuracy'] <= 1
    assert written['probe_protocol'].startswith('subject-disjoint')
    png = out / 'confusion_zero_shot.png'
    assert png.is_file() and png.read_bytes()[:8] == PNG
    ls = zs['label_space']
    assert np.allclose(np.diag(ls['similarity']), 1, atol=1e-4) and set(ls['nearest_training']) == set(SPSW_LABELS)
    assert ls['nearest_training']['walking'][0] == ['walking', pytest.approx(1.0, abs=1e-3)]   # a hapt label too
    assert set(ls['training_as_evaluated']) == set(ckpt_labels(ckpt))
    assert ls['training_as_evaluated']['walking'] == ['walking', pytest.approx(1.0, abs=1e-3)]
    split = zs['as_training_labels']                                   # every window once, per eval class
    assert [sum(split[t].values()) for t in SPSW_LABELS] == [zs['support'][t] for t in SPSW_LABELS]
    assert set().union(*split.values()) <= set(ckpt_labels(ckpt))


def ckpt_labels(path):
    import torch
    return torch.load(path, weights_only=True)['data']['label_names']


def test_label_space_by_hand():
    import torch
    e = torch.eye(3)
    near = torch.nn.functional.normalize(e[0] + 0.1 * e[1], dim=0)     # cos 0.995 to e0
    protos = torch.stack([torch.stack([e[0], e[0]]), torch.stack([near, near]), torch.stack([e[1], e[2]])])  # (3, 2, 3)
    train = torch.stack([e[0], e[1], e[2]])[:, None, :]                 # (3, 1, 3)
    ls = evaluate.label_space(protos, ['a', 'b', 'c'], train, ['t0', 't1', 't2'])
    assert ls['near_duplicates'] == [['a', 'b', pytest.approx(0.995, abs=1e-3)]]
    assert ls['nearest_training']['a'][0] == ['t0', 1.0]
    c_near = dict((n, v) for n, v in ls['nearest_training']['c'])    # c's centre: (e1 + e2) / sqrt 2
    assert c_near['t1'] == c_near['t2'] == pytest.approx(2 ** -0.5, abs=1e-3) and c_near['t0'] == 0
    assert np.array(ls['similarity']).shape == (3, 3)
    # t0 is nearest a (cos 1, b is 0.995); t1 nearest c (0.707, b is 0.0995); t2 only c is near
    assert ls['training_as_evaluated'] == {'t0': ['a', 1.0], 't1': ['c', pytest.approx(2 ** -0.5, abs=1e-3)],
                                          't2': ['c', pytest.approx(2 ** -0.5, abs=1e-3)]}


def test_as_training_labels_by_hand():
    y = np.array([0, 0, 0, 1, 1])
    pred_train = np.array([2, 2, 0, 1, 2])
    assert evaluate.as_training_labels(y, pred_train, ['x', 'y'], ['p', 'q', 'r']) == \
        {'x': {'r': 2, 'p': 1}, 'y': {'q': 1, 'r': 1}}


def test_says_it_uses_the_shipped_sample(ckpt, empty_data_root, tmp_path, capsys):
    evaluate.main([str(ckpt), '--data', 'spsw', '--data_root', str(empty_data_root), '--out', str(tmp_path),
                   '--layout', '1', '--no-probe', '--bootstrap', '0', '--device', 'cpu'])
    said = capsys.readouterr().out
    assert f'using the shipped sample {Path(evaluate.SAMPLE_ROOT) / "spsw"}' in said
    assert 'layout 1 only: smartwatch on the wrist' in said


def test_tta_rotations_is_recorded_and_reaches_the_embedding(ckpt, empty_data_root, tmp_path, spsw, monkeypatch):
    """--tta_rotations N embeds with N views and the checkpoint's training rotation (what the
    views do is tested in test_model_loading); results.json records it."""
    seen = []
    real = evaluate.embed_split
    monkeypatch.setattr(evaluate, 'embed_split', lambda *a, **k: seen.append(k) or real(*a, **k))
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path / 'tta', '--data', 'spsw', '--tta_rotations', '4',
                               '--no-probe')
    assert [(k['views'], k['rotation']) for k in seen] == [(4, ckpt_config(ckpt)['ROTATION'])]
    assert written['tta_rotations'] == 4 and spsw[1]['tta_rotations'] == 1
    assert written['protocol'] == 'zero-shot: dataset unseen in training; test-time rotation averaging over 4 views'
    check_zero_shot(written['zero_shot'], spsw[1]['data']['n_windows'], SPSW_LABELS)


def ckpt_config(path):
    import torch
    return torch.load(path, weights_only=True)['config']


def test_tta_rotations_bad_values_are_refused(ckpt, empty_data_root, tmp_path):
    assert "argument --tta_rotations: expected an integer >= 1, got '0'" in refused(
        ckpt, empty_data_root, tmp_path, '--data', 'spsw', '--tta_rotations', '0')


def test_layout_zero_only(ckpt, empty_data_root, tmp_path, spsw):
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path, '--data', 'spsw', '--layout', '0', '--no-probe')
    n_all = spsw[1]['data']['n_windows']
    assert written['data']['layout'] == 0
    assert 0 < written['data']['n_windows'] < n_all
    check_zero_shot(written['zero_shot'], written['data']['n_windows'], SPSW_LABELS)
    assert 'few_shot' not in written


def test_layout_out_of_range_is_refused(ckpt, empty_data_root, tmp_path):
    assert 'layouts 0..1' in refused(ckpt, empty_data_root, tmp_path, '--data', 'spsw', '--layout', '2')


def test_unknown_dataset_is_refused(ckpt, empty_data_root, tmp_path):
    assert 'not prepared' in refused(ckpt, empty_data_root, tmp_path, '--data', 'no_such_dataset')


# ------------------------------------------------------------------ leakage

def test_dataset_seen_in_training_is_refused(ckpt, empty_data_root, tmp_path):
    msg = refused(ckpt, empty_data_root, tmp_path, '--data', 'hapt')
    assert '--allow-seen' in msg and 'hapt' in msg
    assert not (tmp_path / 'results.json').exists()


def test_allow_seen_uses_held_out_subjects_and_says_seen(ckpt, empty_data_root, tmp_path):
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path, '--data', 'hapt', '--allow-seen')
    trained = set(written['trained_on']['hapt'])
    assert trained                                                    # subjects of both stages
    held = written['data']['subjects']
    assert held and not set(held) & trained
    assert 'SEEN' in written['protocol'] and 'not zero-shot' in written['protocol']
    assert 'probe_protocol' in written                               # the probes do not overwrite it
    assert written['zero_shot']['unseen_labels'] == []


# ------------------------------------------------------------------ random initialisation

def test_random_init_is_labelled_and_differs(ckpt, empty_data_root, tmp_path, spsw):
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path, '--data', 'spsw', '--random-init', '--no-probe')
    assert written['random_init'] is True
    assert 'RANDOMLY INITIALISED' in written['protocol']
    check_zero_shot(written['zero_shot'], spsw[1]['data']['n_windows'], SPSW_LABELS)
    assert written['zero_shot']['confusion'] != spsw[1]['zero_shot']['confusion']   # other weights, other predictions


# ------------------------------------------------------------------ a user's .npz: rare cases

def test_npz_class_with_one_window_and_a_label_never_trained_on(ckpt, empty_data_root, tmp_path):
    y = ['walking'] * 6 + ['sitting'] * 5 + ['juggling']
    subjects = ['a', 'b', 'c', 'd'] * 3
    path = save_npz(tmp_path / 'rare.npz', windows(12, 4, 50), y, subjects=subjects)
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path / 'out', '--data', str(path))
    zs = written['zero_shot']
    check_zero_shot(zs, 12, ['juggling', 'sitting', 'walking'])
    assert zs['support'] == {'juggling': 1, 'sitting': 5, 'walking': 6}
    assert zs['unseen_labels'] == ['juggling']
    assert written['protocol'] == 'zero-shot: dataset unseen in training'
    assert set(written['few_shot']) == {'1', '5', '10'}
    assert written['data']['subjects'] == ['a', 'b', 'c', 'd']


def test_npz_label_spellings_match_labels_option(ckpt, empty_data_root, tmp_path):
    y = ['WALKING_UPSTAIRS', 'SITTING', 'Walking-Upstairs', 'sitting', 'WALKING_UPSTAIRS', 'SITTING']
    path = save_npz(tmp_path / 'caps.npz', windows(6, 4, 50, seed=1), y)
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path / 'out', '--data', str(path),
                               '--labels', 'walking upstairs,sitting')
    zs = written['zero_shot']
    check_zero_shot(zs, 6, ['walking upstairs', 'sitting'])
    assert zs['support'] == {'walking upstairs': 3, 'sitting': 3}
    assert zs['unseen_labels'] == []                                  # both are hapt labels
    assert zs['ci95'] is None                                         # one subject: no interval
    assert written['probe_protocol'].startswith('one subject only')
    # more label texts than the data has, in another spelling
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path / 'out2', '--data', str(path),
                               '--labels', 'Sitting, WALKING_UPSTAIRS, lying down, cycling', '--no-probe')
    check_zero_shot(written['zero_shot'], 6, ['sitting', 'walking upstairs', 'lying down', 'cycling'])
    assert written['zero_shot']['support'] == {'sitting': 3, 'walking upstairs': 3, 'lying down': 0, 'cycling': 0}


def test_npz_labels_option_missing_a_data_label_or_duplicated_is_refused(ckpt, empty_data_root, tmp_path):
    path = save_npz(tmp_path / 'caps.npz', windows(4, 4, 50), ['WALKING_UPSTAIRS', 'SITTING'] * 2)
    msg = refused(ckpt, empty_data_root, tmp_path / 'o1', '--data', str(path), '--labels', 'sitting,lying')
    assert "'walking upstairs'" in msg
    msg = refused(ckpt, empty_data_root, tmp_path / 'o2', '--data', str(path),
                  '--labels', 'sitting,Sitting,walking upstairs')
    assert 'duplicates' in msg


def test_npz_empty_X_is_refused(ckpt, empty_data_root, tmp_path):
    path = save_npz(tmp_path / 'empty.npz', np.zeros((0, 200, 6), np.float32), np.array([], dtype='<U7'))
    msg = refused(ckpt, empty_data_root, tmp_path / 'out', '--data', str(path))
    assert 'empty' in msg and 'empty.npz' in msg
    assert not (tmp_path / 'out' / 'results.json').exists()


def test_npz_all_nan_X_is_refused(ckpt, empty_data_root, tmp_path):
    path = save_npz(tmp_path / 'nan.npz', np.full((3, 200, 6), np.nan, np.float32), ['walking'] * 3)
    assert 'only NaN' in refused(ckpt, empty_data_root, tmp_path / 'out', '--data', str(path))


def test_npz_missing_file_is_refused(ckpt, empty_data_root, tmp_path):
    assert 'does not exist' in refused(ckpt, empty_data_root, tmp_path, '--data', str(tmp_path / 'nope.npz'))


@pytest.mark.parametrize('seconds,rate', [(10, 50), (2, 50), (4, 100), (2.5, 25)])
def test_npz_windows_of_other_lengths_and_rates_get_one_prediction_each(ckpt, empty_data_root, tmp_path,
                                                                          seconds, rate):
    y = ['walking', 'sitting', 'walking', 'lying', 'sitting']
    path = save_npz(tmp_path / 'w.npz', windows(5, seconds, rate, seed=2), y, rate=rate, subjects=list('aabbc'))
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path / 'out', '--data', str(path), '--no-probe')
    assert written['data']['n_windows'] == 5
    check_zero_shot(written['zero_shot'], 5, ['lying', 'sitting', 'walking'])


@pytest.mark.parametrize('channels', [
    ['wrist accelerometer x (g)', 'wrist accelerometer y (g)', 'wrist accelerometer z (g)'],
    ['acc_x', 'acc_y', 'acc_z', 'gyro_x', 'gyro_y', 'gyro_z', 'mag_x', 'mag_y', 'mag_z'],
], ids=['acc_only_in_g', 'nine_axis'])
def test_npz_with_3_or_9_channels(ckpt, empty_data_root, tmp_path, channels):
    X = windows(6, 4, 50, channels=len(channels), seed=3)
    if '(g)' in channels[0]:
        X /= 9.81
    path = save_npz(tmp_path / 'c.npz', X, ['walking', 'sitting'] * 3, channels=channels, subjects=list('aabbcc'))
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path / 'out', '--data', str(path))
    check_zero_shot(written['zero_shot'], 6, ['sitting', 'walking'])
    assert set(written['few_shot']) == {'1', '5', '10'}


def test_conditions_table_scores_every_condition(ckpt, empty_data_root, tmp_path, spsw):
    res, written, _ = run_eval(ckpt, empty_data_root, tmp_path, '--data', 'spsw', '--layout', '0', '--conditions', 'all')
    table = written['conditions']
    assert list(table) == list(evaluate.A.CONDITIONS) and all(row['applies'] for row in table.values())
    assert table['as recorded']['zero_shot_f1'] == pytest.approx(res['zero_shot']['macro_f1'])
    for row in table.values():
        assert 0 <= row['zero_shot_f1'] <= 1 and 0 <= row['shot5_f1'] <= 1
    assert table['accelerometer only']['zero_shot_f1'] != table['as recorded']['zero_shot_f1']   # the data changed


def test_conditions_names_are_checked(ckpt, empty_data_root, tmp_path):
    msg = refused(ckpt, empty_data_root, tmp_path, '--data', 'spsw', '--conditions', 'as recorded,upside down')
    assert "argument --conditions: expected 'all' or names among as recorded" in msg and 'upside down' in msg


def test_a_condition_at_or_above_the_models_rate_does_not_apply():
    assert evaluate.A.condition('50 Hz', 50.0) is None and evaluate.A.condition('25 Hz', 50.0) is not None


def test_only_the_labels_of_the_evaluated_windows_are_candidates():
    texts, to_text = evaluate.resolve_labels(['walking', 'falling', 'sitting'], None, [0, 2])
    assert texts == ['walking', 'sitting'] and to_text.tolist() == [0, -1, 1]
    texts, to_text = evaluate.resolve_labels(['walking', 'falling', 'sitting'], 'sitting,walking,running', [0, 2])
    assert texts == ['sitting', 'walking', 'running'] and to_text.tolist() == [1, -1, 0]   # --labels: as given
    with pytest.raises(SystemExit, match=r"the data has labels \['sitting'\]"):
        evaluate.resolve_labels(['walking', 'falling', 'sitting'], 'walking,falling', [0, 2])
