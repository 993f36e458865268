"""semantic_alignment_train.py end to end on the shipped hapt sample with a tiny Stage 1 encoder:
outputs, start from the Stage 1 weights (and refusal of an encoder that does not fit), exact
resume including the memory bank, refusal of a Stage 1 checkpoint as --resume.

The Stage 1 and the straight Stage 2 runs are the session fixtures `stage1_run` / `stage2_run`
(tests/conftest.py): trained once, shared with test_evaluate.py and test_model_loading.py."""
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_STAGE2, one_thread

import semantic_alignment_train as s2
from model import EncoderConfig, SemanticAlignmentModel
from checks import assert_relabelled_as_partners, assert_same_tensors, spy_reverse_partnered

pytestmark = pytest.mark.usefixtures('one_torch_thread')

PNG = b'\x89PNG\r\n\x1a\n'


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def run_stage2(stage1_run, data_root, out, *extra):
    return Path(s2.main([f'--stage1_checkpoint={stage1_run / "best.pt"}', f'--data_root={data_root}',
                         f'--out_root={out}', *TINY_STAGE2, *extra]))


@pytest.fixture(scope='module')
def sample_hapt():
    from datasets.loader import open_datasets
    return open_datasets(['hapt'], root='/nonexistent', log=lambda *_: None)


def fresh_model(stage1_ckpt, text_dim=384):
    return SemanticAlignmentModel(EncoderConfig(**stage1_ckpt['encoder_config']), text_dim, 3, 0.07, True, 16)


# ------------------------------------------------------------------ outputs

def test_outputs_exist(stage2_run, stage1_run):
    for name in ('config.yaml', 'latest.pt', 'best.pt', 'checkpoint_epoch_1.pt', 'checkpoint_epoch_2.pt',
                 'plots/overall_loss.png', 'plots/loss_components.png', 'plots/per_dataset_losses.png',
                 'plots/zero_shot.png', 'plots/train_accuracy.png', 'plots/validation_loss.png',
                 'plots/metrics.json'):
        assert (stage2_run / name).is_file() and (stage2_run / name).stat().st_size > 0, name
    for png in (stage2_run / 'plots').glob('*.png'):
        assert png.read_bytes()[:8] == PNG, png
    assert not list(stage2_run.glob('.*tmp*'))
    with open(stage2_run / 'config.yaml') as f:
        cfg = yaml.safe_load(f)
    assert cfg['STAGE1_CHECKPOINT'] == str(stage1_run / 'best.pt')
    assert 'D_MODEL' not in cfg                                      # the encoder's shape is Stage 1's
    assert cfg['MEMORY_BANK_SIZE'] == 16 and cfg['EPOCHS'] == 2 and cfg['DATASETS'] == ['hapt']
    assert cfg['WINDOW_SECONDS'] == 4.0 and cfg['SAMPLING_RATE_HZ'] == 50.0   # Stage 1's window settings
    with open(stage2_run / 'plots' / 'metrics.json') as f:
        hist = json.load(f)
    assert [e['epoch'] for e in hist['epochs']] == [1, 2]
    for e in hist['epochs']:
        for k in ('train_loss', 'train_imu_to_text', 'train_text_to_imu', 'train_accuracy', 'val_loss',
                  'val_accuracy', 'val_macro_f1', 'val_ds_hapt'):
            assert k in e and math.isfinite(e[k]), k
        assert 0 <= e['val_accuracy'] <= 1 and 0 <= e['val_macro_f1'] <= 1
    assert len(hist['steps']) == 6                                   # log_interval=1


def test_checkpoint_contents(stage2_run, stage1_run):
    ck = load(stage2_run / 'latest.pt')
    assert ck['kind'] == s2.KIND and ck['epoch'] == 2 and ck['step_in_epoch'] == 0
    assert ck['encoder_config']['d_model'] == 32 and ck['text_dim'] == 384
    assert ck['stage1']['path'] == str(stage1_run / 'best.pt')
    with open(Path(s2.__file__).parent / 'sample_data' / 'hapt' / 'meta.json') as f:
        hapt_labels = [l['name'] for l in json.load(f)['labels']]
    assert ck['label_names'] == ck['data']['label_names'] == hapt_labels
    # the memory bank was filled (6 steps x 8 windows > 16 slots) and saved with the model
    assert (ck['model']['memory_bank.labels'] >= 0).all()
    assert int(ck['model']['memory_bank.ptr']) == (6 * 8) % 16
    assert ck['model']['memory_bank.feats'].shape == (16, 384)
    assert torch.allclose(ck['model']['memory_bank.feats'].norm(dim=-1), torch.ones(16), atol=1e-4)   # unit IMU embeddings
    s1 = load(stage1_run / 'best.pt')
    model = fresh_model(s1)
    model.load_state_dict(ck['model'])                               # strict: nothing missing or extra
    # training changed the encoder away from Stage 1's
    enc = {k: v for k, v in ck['model'].items() if k.startswith('encoder.')}
    assert any(not torch.equal(v, s1['model'][k]) for k, v in enc.items())


# ------------------------------------------------------------------ label texts

def test_label_variants_are_name_then_descriptions(sample_hapt):
    from datasets.loader import HARData
    data = HARData(sample_hapt, 4.0, 50.0, 2.0, 1.0, labelled_only=True)
    variants = s2.label_variants(data)
    assert [v[0] for v in variants] == data.label_names
    assert variants[data.label_names.index('stand to sit')][1:] == ['sitting down from standing, a postural transition']


def test_label_texts_for_step_draws_one_text_per_class():
    count = torch.tensor([1, 3, 2])
    first = torch.cumsum(count, 0) - count                            # rows 0 | 1 2 3 | 4 5
    sent = torch.arange(6.0)[:, None].expand(6, 4)                   # row r holds r
    names = dict(label_tok=torch.zeros(3, 2, 4), label_mask=torch.ones(3, 2, dtype=torch.bool),
                 label_sent=torch.full((3, 4), -1.0), label_sim=torch.eye(3), channel_table=torch.zeros(1, 4),
                 reverse_partner=torch.full((3,), -1), gravity_removed_text=torch.zeros(1, dtype=torch.long))
    text = s2.Texts(**names, variant_tok=sent[:, None, :].expand(6, 2, 4),
                    variant_mask=torch.ones(6, 2, dtype=torch.bool), variant_sent=sent, variant_count=count,
                    variant_first=first)
    seen = set()
    for seed in range(60):
        tok, mask, chosen = s2.label_texts_for_step(text, torch.Generator().manual_seed(seed))
        rows = chosen[:, 0].long().tolist()
        assert rows[0] == 0 and rows[1] in (1, 2, 3) and rows[2] in (4, 5)
        assert torch.equal(tok[:, 0, 0], chosen[:, 0]) and mask.shape == (3, 2)
        seen.update(rows)
    assert seen == set(range(6))                                      # every text gets drawn
    again = s2.label_texts_for_step(text, torch.Generator().manual_seed(3))[2]
    assert torch.equal(again, s2.label_texts_for_step(text, torch.Generator().manual_seed(3))[2])
    names_only = s2.Texts(**names)
    assert s2.label_texts_for_step(names_only, torch.Generator())[2] is names_only.label_sent


def test_unknown_label_texts_mode_is_refused(stage1_run, empty_data_root, text_model_once, tmp_path):
    with pytest.raises(SystemExit, match='label_texts'):
        run_stage2(stage1_run, empty_data_root, tmp_path / 's2', '--label_texts=synonyms')
    assert not (tmp_path / 's2').exists()


# ------------------------------------------------------------------ start from Stage 1

def test_load_stage1_copies_the_encoder_exactly_and_nothing_else(stage1_run):
    s1 = load(stage1_run / 'best.pt')
    torch.manual_seed(0)
    model = fresh_model(s1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s2.load_stage1(model, stage1_run / 'best.pt')
    after = model.state_dict()
    enc_keys = {k for k in after if k.startswith('encoder.')}
    assert enc_keys == {k for k in s1['model'] if k.startswith('encoder.')}
    for k in enc_keys:
        assert torch.equal(after[k], s1['model'][k]), k
    for k in set(after) - enc_keys:                                   # new modules untouched
        assert torch.equal(after[k], before[k]), k


def test_stage2_training_starts_from_stage1_weights(stage1_run, empty_data_root, text_model_once, tmp_path):
    """One step at learning rate 0: the saved encoder is bit for bit Stage 1's."""
    run = run_stage2(stage1_run, empty_data_root, tmp_path / 's2', '--learning_rate=0', '--max_steps=1')
    ck, s1 = load(run / 'latest.pt'), load(stage1_run / 'best.pt')
    assert ck['global_step'] == 1
    enc = {k: v for k, v in ck['model'].items() if k.startswith('encoder.')}
    assert enc and set(enc) == {k for k in s1['model'] if k.startswith('encoder.')}
    for k, v in enc.items():
        assert torch.equal(v, s1['model'][k]), k


def test_frozen_label_bank_run_keeps_its_bank_and_loads_as_frozen(stage1_run, empty_data_root, text_model_once,
                                                                  tmp_path):
    from model import FrozenLabelBank
    from model_loading import load_model
    run = run_stage2(stage1_run, empty_data_root, tmp_path / 's2', '--label_bank=frozen', '--max_steps=2')
    start = run_stage2(stage1_run, empty_data_root, tmp_path / 's2_start', '--label_bank=frozen', '--max_steps=1',
                       '--learning_rate=0')                           # same seed: the initial weights
    ck, init = load(run / 'latest.pt')['model'], load(start / 'latest.pt')['model']
    assert not [k for k in ck if k.startswith('label_bank.')]          # nothing to train, nothing stored
    assert not all(torch.equal(ck[k], init[k]) for k in ck if k.startswith('head.'))   # the rest is trained
    model, _, _ = load_model(run / 'latest.pt')
    assert isinstance(model.label_bank, FrozenLabelBank)
    with pytest.raises(SystemExit, match="--label_bank='fixed': expected one of 'learned', 'frozen'"):
        run_stage2(stage1_run, empty_data_root, tmp_path / 'bad', '--label_bank=fixed')
    assert not (tmp_path / 'bad').exists()


@pytest.mark.parametrize('key', ['encoder.norm.weight', 'encoder.stack.blocks.1.qkv.weight'])
def test_stage1_checkpoint_missing_an_encoder_key_is_refused(stage1_run, tmp_path, key):
    s1 = load(stage1_run / 'best.pt')
    del s1['model'][key]
    torch.save(s1, tmp_path / 'broken.pt')
    with pytest.raises(SystemExit) as e:
        s2.load_stage1(fresh_model(s1), tmp_path / 'broken.pt')
    assert key in str(e.value)


def test_stage1_checkpoint_with_an_unexpected_encoder_key_is_refused(stage1_run, tmp_path):
    s1 = load(stage1_run / 'best.pt')
    s1['model']['encoder.extra_scale'] = torch.ones(3)
    torch.save(s1, tmp_path / 'extra.pt')
    with pytest.raises(SystemExit) as e:
        s2.load_stage1(fresh_model(s1), tmp_path / 'extra.pt')
    assert 'encoder.extra_scale' in str(e.value)


def test_a_stage2_checkpoint_is_not_accepted_as_stage1(stage2_run, empty_data_root, tmp_path):
    with pytest.raises(SystemExit) as e:
        s2.main([f'--stage1_checkpoint={stage2_run / "best.pt"}', f'--data_root={empty_data_root}',
                 f'--out_root={tmp_path}', *TINY_STAGE2])
    assert 'imu_pretraining' in str(e.value)
    assert not list(tmp_path.iterdir())                               # no run folder made


def test_stage1_invariant_frame_with_rotation_augmentation_is_refused(stage1_run, empty_data_root, tmp_path):
    ck = load(stage1_run / 'best.pt')
    ck['encoder_config']['input_frame'] = 'invariant'
    torch.save(ck, tmp_path / 'invariant.pt')
    args = [f'--stage1_checkpoint={tmp_path / "invariant.pt"}', f'--data_root={empty_data_root}',
            f'--out_root={tmp_path / "s2"}', *TINY_STAGE2]
    with pytest.raises(SystemExit, match='pass --rotation=none'):
        s2.main(args)                                                 # the default rotation is so3
    assert not (tmp_path / 's2').exists()


def test_hybrid_frame_through_both_stages_and_evaluation(empty_data_root, text_model_once, tmp_path):
    """--input_frame=hybrid (recorded channels under the default SO(3) rotation, plus their
    invariant copies): Stage 1, Stage 2 on it and a zero-shot evaluation on the unseen sample."""
    import evaluate
    import pretrain
    from conftest import TINY_STAGE1
    with one_thread():
        s1 = Path(pretrain.main([f'--data_root={empty_data_root}', f'--out_root={tmp_path / "s1"}', *TINY_STAGE1,
                                 '--input_frame=hybrid']))
        s2_dir = run_stage2(s1, empty_data_root, tmp_path / 's2', '--epochs=1', '--steps_per_epoch=2')
    ck = load(s2_dir / 'best.pt')
    assert ck['encoder_config']['input_frame'] == 'hybrid' and ck['config']['ROTATION'] == 'so3'
    assert ck['model']['encoder.type_embed.weight'].shape[0] == 7
    res = evaluate.main([str(s2_dir / 'best.pt'), '--data', 'spsw', '--data_root', str(empty_data_root),
                         '--out', str(tmp_path / 'ev'), '--no-probe', '--bootstrap', '0'])
    assert res['zero_shot']['n_windows'] > 0 and 0 <= res['zero_shot']['macro_f1'] <= 1


# ------------------------------------------------------------------ exact resume

@pytest.fixture(scope='module')
def resumed(stage1_run, empty_data_root, text_model_once, tmp_path_factory):
    """4 steps (one into epoch 2), then --resume for the remaining 2."""
    with one_thread():
        first = run_stage2(stage1_run, empty_data_root, tmp_path_factory.mktemp('resume') / 's2', '--max_steps=4')
        ck = load(first / 'latest.pt')
        assert (ck['epoch'], ck['step_in_epoch'], ck['global_step']) == (1, 1, 4)
        assert not (first / 'checkpoint_epoch_2.pt').exists()
        second = Path(s2.main(['--resume', str(first / 'latest.pt'), '--num_workers=0']))
    assert second == first
    return first


def test_resume_gives_identical_state(stage2_run, resumed):
    for name in ('latest.pt', 'best.pt', 'checkpoint_epoch_2.pt'):
        a, b = load(stage2_run / name), load(resumed / name)
        assert (a['epoch'], a['step_in_epoch'], a['global_step']) == (b['epoch'], b['step_in_epoch'], b['global_step'])
        assert_same_tensors(a['model'], b['model'], f'{name}:model')          # memory bank buffers included
        assert_same_tensors(a['optimizer'], b['optimizer'], f'{name}:optimizer')
        assert a['best'] == b['best']
    a, b = load(stage2_run / 'latest.pt'), load(resumed / 'latest.pt')
    for k in ('memory_bank.feats', 'memory_bank.labels', 'memory_bank.ptr', 'logit_scale'):
        assert torch.equal(a['model'][k], b['model'][k]), k
    assert_same_tensors(load(stage2_run / 'checkpoint_epoch_1.pt')['model'],
                        load(resumed / 'checkpoint_epoch_1.pt')['model'])


def test_resume_gives_identical_step_log_and_validation(stage2_run, resumed):
    def hist(run):
        with open(run / 'plots' / 'metrics.json') as f:
            return json.load(f)
    a, b = hist(stage2_run), hist(resumed)
    assert a['steps'] == b['steps']
    for ea, eb in zip(a['epochs'], b['epochs']):
        assert {k: v for k, v in ea.items() if k.startswith('val_')} == \
               {k: v for k, v in eb.items() if k.startswith('val_')}


def test_resume_from_a_stage1_checkpoint_is_refused(stage1_run, tmp_path):
    with pytest.raises(SystemExit) as e:
        s2.main(['--resume', str(stage1_run / 'latest.pt'), f'--out_root={tmp_path}'])
    msg = str(e.value)
    assert 'imu_pretraining' in msg and 'semantic_alignment' in msg
    assert not list(tmp_path.iterdir())


def test_resume_from_a_missing_file_is_refused(tmp_path):
    with pytest.raises(SystemExit, match='does not exist'):
        s2.main(['--resume', str(tmp_path / 'nope' / 'latest.pt')])


def test_time_reversal_trains_reversed_transitions_as_their_partners(stage1_run, empty_data_root, text_model_once,
                                                                     tmp_path, monkeypatch):
    """--time_reversal_prob=1: every window of a transition is played backwards and its loss
    and memory-bank entry carry the reversed transition's label; other windows are untouched."""
    import augmentations as A
    scored = []
    real_loss = s2.semantic_infonce

    def spy_loss(imu, protos, labels, *args, **kwargs):
        scored.append(labels.clone())
        return real_loss(imu, protos, labels, *args, **kwargs)

    seen = spy_reverse_partnered(monkeypatch)
    monkeypatch.setattr(s2, 'semantic_infonce', spy_loss)
    run = run_stage2(stage1_run, empty_data_root, tmp_path / 's2', '--time_reversal_prob=1', '--max_steps=6')
    with open(run / 'config.yaml') as f:
        assert yaml.safe_load(f)['TIME_REVERSAL_PROB'] == 1.0
    names = load(run / 'latest.pt')['data']['label_names']
    assert seen[0][2].tolist() == A.reversal_partners(names) and seen[0][3] == 1.0
    after = assert_relabelled_as_partners(seen)
    assert torch.equal(torch.cat(scored), after)                          # the loss sees the new labels


def test_time_reversal_probability_out_of_range_is_refused(stage1_run, empty_data_root, tmp_path):
    with pytest.raises(SystemExit, match='time_reversal_prob'):
        run_stage2(stage1_run, empty_data_root, tmp_path / 's2', '--time_reversal_prob=-0.1')
