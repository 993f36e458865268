"""Settings: every setting of both training scripts refused with one line and exit status 2 for a
value that breaks its rule or its type, before any folder is written; cross-rules; --config
YAML files (the shipped recipes, a run's own config.yaml repeating it bit for bit, unknown keys
and wrong types refused); --help with each setting's range; the issue's refusals as real
command lines."""
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import pretrain
import semantic_alignment_train
import settings
from checks import assert_same_tensors

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = {'pretrain': pretrain, 'semantic_alignment_train': semantic_alignment_train}
TINY = ['--d_model=32', '--depth=2', '--n_heads=2', '--decoder_depth=1', '--proj_dim=16', '--batch_size=8',
        '--num_workers=0', '--hop_seconds=4.0']


def wrong_type(default):
    """A shell value of the wrong type for a setting with this default (None for a text setting:
    from the shell any value is text)."""
    if isinstance(default, bool):
        return 'maybe'
    if isinstance(default, (int, float)):
        return "'text'"
    if isinstance(default, list):
        return '5'
    return None


def bad_cases():
    """(script, setting, shell value) for every setting: each value its rule lists as bad, and one
    of the wrong type."""
    cases = []
    for name, script in SCRIPTS.items():
        for key, default in script.settings().items():
            rule = script.RULES[key]
            for bad in rule.bad:
                cases.append(pytest.param(name, key, repr(bad) if not isinstance(bad, str) else bad,
                                          id=f'{name}-{key.lower()}={bad!r}'))
            if wrong_type(default) is not None:
                cases.append(pytest.param(name, key, wrong_type(default), id=f'{name}-{key.lower()}-type'))
    return cases


@pytest.mark.parametrize('script, key, value', bad_cases())
def test_every_bad_setting_is_refused_by_name_before_anything_is_written(tmp_path, capsys, script, key, value):
    out = tmp_path / 'runs'
    with pytest.raises(SystemExit) as e:
        SCRIPTS[script].main([f'--out_root={out}', f'--data_root={tmp_path}', f'--{key.lower()}={value}'])
    assert isinstance(e.value, settings.Refused) and e.value.code == 2
    message = str(e.value)
    assert message.startswith('error: ') and f'--{key.lower()}' in message and '\n' not in message
    assert 'Traceback' not in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / 'training_output').exists()


def test_every_setting_has_a_rule_and_the_rules_name_no_stray_setting():
    for script in SCRIPTS.values():
        assert set(script.RULES) == set(script.settings())


@pytest.mark.parametrize('argv, needle', [
    (['--d_model=64'], '--d_model=64 and --n_heads=6: d_model must be divisible by n_heads'),
    (['--window_seconds=0.1'], '--window_seconds=0.1 is shorter than one patch'),
    (['--min_window_seconds=0.2'], '--min_window_seconds=0.2 is shorter than one patch'),
    (['--mae_weight=0', '--contrastive_weight=0'], '--mae_weight=0.0 and --contrastive_weight=0.0'),
    (['--input_frame=invariant'], '--input_frame=invariant and --rotation=so3'),
    (['--holdout_datasets=hapt', '--datasets=hapt'], 'holds out every one of --datasets'),
    (['--low_rate_prob=0.5', '--low_rate_min_hz=50'], "--low_rate_min_hz=50.0 is not below the model's rate (50 Hz)"),
])
def test_settings_that_disagree_are_refused_naming_both(tmp_path, argv, needle):
    with pytest.raises(SystemExit) as e:
        pretrain.main([f'--out_root={tmp_path / "runs"}', *argv])
    assert e.value.code == 2 and needle in str(e.value)
    assert not (tmp_path / 'runs').exists()


def test_legal_but_pointless_settings_are_warned_about(tmp_path, capsys):
    run = pretrain.main([f'--out_root={tmp_path / "runs"}', f'--data_root={tmp_path}', *TINY, '--epochs=0'])
    said = capsys.readouterr().out
    assert 'warning: --epochs=0 trains nothing' in said
    assert not list(Path(run).glob('*.pt'))                          # nothing trained, nothing saved


@pytest.mark.parametrize('argv, needle', [
    (['--crop_min_seconds=0.1'], '--crop_min_seconds=0.1 is shorter than one patch of the encoder'),
    (['--min_window_seconds=0.1'], '--min_window_seconds=0.1 is shorter than one patch of the encoder'),
    (['--low_rate_prob=0.5', '--low_rate_min_hz=60'], '--low_rate_min_hz=60.0 is not below the model'),
])
def test_stage2_settings_that_disagree_with_the_stage1_encoder_are_refused(tmp_path, stage1_run, argv, needle):
    with pytest.raises(SystemExit) as e:
        semantic_alignment_train.main([f'--out_root={tmp_path / "runs"}', f'--stage1_checkpoint={stage1_run / "best.pt"}',
                                       *argv])
    assert e.value.code == 2 and needle in str(e.value)
    assert not (tmp_path / 'runs').exists()


@pytest.mark.parametrize('script', SCRIPTS)
def test_help_states_each_settings_range(script, capsys):
    with pytest.raises(SystemExit) as e:
        SCRIPTS[script].main(['--help'])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for key, default in SCRIPTS[script].settings().items():
        assert f'--{key.lower()}={default!r}  ({SCRIPTS[script].RULES[key].expected})' in out
    assert '--config FILE' in out and '--resume PATH' in out


# ------------------------------------------------------------------ --config files

def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_config_file_then_the_shell(tmp_path):
    cfg_file = write_yaml(tmp_path / 'recipe.yaml', {'epochs': 3, 'mask_ratio': 0.25, 'DEPTH': 2})
    cfg, _ = settings.configure(pretrain.settings(), pretrain.RULES, argv=['--epochs=5', '--config', str(cfg_file)])
    assert (cfg.EPOCHS, cfg.MASK_RATIO, cfg.DEPTH) == (5, 0.25, 2)     # the shell wins, whatever the order


def test_text_settings_keep_the_text_and_yaml_numbers_written_as_text_are_numbers(tmp_path):
    path = write_yaml(tmp_path / 'r.yaml', {'learning_rate': '1e-4', 'min_lr': '1e-5'})   # YAML reads 1e-4 as text
    cfg, _ = settings.configure(pretrain.settings(), pretrain.RULES, argv=['--config', str(path), '--out_root=2024'])
    assert cfg.LEARNING_RATE == 1e-4 and cfg.OUT_ROOT == '2024'
    with pytest.raises(SystemExit, match="key 'out_root': expected str"):
        settings.configure(pretrain.settings(), pretrain.RULES, argv=['--config', str(write_yaml(tmp_path / 'n.yaml',
                                                                                                   {'out_root': 5}))])


@pytest.mark.parametrize('content, needle', [
    ({'epochs': 2, 'bogus_key': 1}, "key bogus_key; valid:"),
    ({'epochs': 'many'}, "key 'epochs': expected int (like 100), got 'many'"),
    ({'mask_ratio': 1.5}, '--mask_ratio=1.5: expected a number in (0, 1)'),
])
def test_a_bad_config_file_is_refused_naming_the_file_and_key(tmp_path, content, needle):
    path = write_yaml(tmp_path / 'bad.yaml', content)
    with pytest.raises(SystemExit) as e:
        pretrain.main(['--config', str(path), f'--out_root={tmp_path / "runs"}'])
    assert e.value.code == 2 and needle in str(e.value)
    if 'key' in needle:
        assert str(path) in str(e.value)
    assert not (tmp_path / 'runs').exists()


def test_a_config_that_is_not_a_mapping_or_not_there_is_refused(tmp_path):
    (tmp_path / 'list.yaml').write_text('- 1\n- 2\n')
    for path, needle in ((tmp_path / 'list.yaml', 'expected a mapping'), (tmp_path / 'none.yaml', 'cannot read')):
        with pytest.raises(SystemExit) as e:
            pretrain.main(['--config', str(path)])
        assert e.value.code == 2 and needle in str(e.value) and str(path) in str(e.value)


@pytest.mark.parametrize('name', sorted(p.name for p in (REPO / 'configs').glob('*.yaml')))
def test_shipped_recipe_files_are_valid(name):
    script = pretrain if 'stage1' in name else semantic_alignment_train
    cfg, _ = settings.configure(script.settings(), script.RULES, [], argv=['--config', str(REPO / 'configs' / name)])
    assert cfg.DATASETS and cfg.NUM_WORKERS == 0


def test_a_shipped_recipe_runs(tmp_path):
    run = pretrain.main(['--config', str(REPO / 'configs' / 'small_cpu_stage1.yaml'), f'--data_root={tmp_path}',
                         f'--out_root={tmp_path / "runs"}', '--max_steps=1'])
    assert (Path(run) / 'latest.pt').is_file()


def test_a_run_repeated_from_its_own_config_yaml_gives_the_same_checkpoint(tmp_path):
    first = Path(pretrain.main([f'--data_root={tmp_path}', f'--out_root={tmp_path / "a"}', *TINY,
                                '--epochs=1', '--steps_per_epoch=3']))
    recorded = yaml.safe_load((first / 'config.yaml').read_text())
    assert recorded['DATASETS'] == ['hapt'] and Path(recorded['DATA_ROOT']).name == 'sample_data'   # what was used
    env = yaml.safe_load((first / 'environment.yaml').read_text())
    assert env['versions']['torch'] == str(torch.__version__) and env['precision'] and env['device'] == 'cpu'
    again = Path(pretrain.main(['--config', str(first / 'config.yaml'), f'--out_root={tmp_path / "b"}']))
    a, b = (torch.load(r / 'best.pt', weights_only=True) for r in (first, again))
    for key in ('model', 'optimizer', 'scaler', 'rng', 'epoch', 'step_in_epoch', 'best', 'data'):
        assert_same_tensors(a[key], b[key], key)
    untimed = lambda ck: [{k: v for k, v in e.items() if k != 'time_s'} for e in ck['history']['epochs']]  # noqa: E731
    assert untimed(a) == untimed(b)
    assert {k: v for k, v in a['config'].items() if k != 'OUT_ROOT'} == \
        {k: v for k, v in b['config'].items() if k != 'OUT_ROOT'}


# ------------------------------------------------------------------ the refusals as command lines

@pytest.mark.parametrize('argv, needle', [
    (['pretrain.py', '--d_model=64'], '--d_model=64 and --n_heads=6'),
    (['pretrain.py', '--patch_size=0'], '--patch_size=0: expected an integer >= 1'),
    (['pretrain.py', '--batch_size=0'], '--batch_size=0: expected an integer >= 1'),
    (['pretrain.py', '--window_seconds=0.1'], '--window_seconds=0.1 is shorter than one patch'),
    (['pretrain.py', '--sampling_rate_hz=-5'], '--sampling_rate_hz=-5.0: expected a number > 0'),
    (['pretrain.py', '--datasets=nope'], "--datasets=['nope']"),
    (['pretrain.py', '--epochs=-1'], '--epochs=-1: expected an integer >= 0'),
    (['pretrain.py', '--depth=0'], '--depth=0: expected an integer >= 1'),
    (['pretrain.py', '--mask_ratio=1.5'], '--mask_ratio=1.5: expected a number in (0, 1)'),
    (['pretrain.py', '--hop_seconds=0'], '--hop_seconds=0.0: expected a number > 0'),
    (['evaluate.py', 'any.pt', '--shots', '0'], "argument --shots: expected comma-separated values, each an integer >= 1"),
    (['semantic_alignment_train.py', '--num_prototypes=0'], '--num_prototypes=0: expected an integer >= 1'),
])
def test_the_command_line_says_one_line_and_exits_2(tmp_path, argv, needle):
    t0 = time.time()
    done = subprocess.run([sys.executable, str(REPO / argv[0]), *argv[1:]], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: ') and needle in lines[0], done.stderr
    assert 'Traceback' not in done.stderr
    assert not (tmp_path / 'training_output').exists()
    assert time.time() - t0 < 30
