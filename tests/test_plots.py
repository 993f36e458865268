"""plots.py: series expansion and values, and each script's panels keep one kind of quantity each."""
import pretrain
import semantic_alignment_train
from plots import Panel, draw, expand, values

EPOCHS = [{'epoch': 1, 'train_loss': 2.0, 'train_ds_a': 1.0, 'train_ds_b': 3.0, 'val_macro_f1': 0.4},
          {'epoch': 2, 'train_loss': 1.5, 'train_ds_a': 0.9, 'val_macro_f1': None}]
STEPS = [{'epoch': 0.5, 'loss': 2.5}, {'epoch': 1.5, 'loss': 1.7}]


def test_values_and_expansion():
    assert values('train_loss', EPOCHS, STEPS) == ([1, 2], [2.0, 1.5])
    assert values('val_macro_f1', EPOCHS, STEPS) == ([1], [0.4])           # missing values are skipped
    assert values('step:loss', EPOCHS, STEPS) == ([0.5, 1.5], [2.5, 1.7])
    assert expand((('train', 'train_ds_*'), ('total', 'train_loss')), EPOCHS) == [
        ('train a', 'train_ds_a'), ('train b', 'train_ds_b'), ('total', 'train_loss')]


def test_draw_writes_every_panel(tmp_path):
    panels = [Panel('a.png', 'A', 'loss', (('train', 'train_loss'),)), Panel('b.png', 'B', 'score', (('x', 'nope'),))]
    draw(panels, EPOCHS, STEPS, tmp_path)
    assert (tmp_path / 'a.png').stat().st_size > 0 and (tmp_path / 'b.png').stat().st_size > 0


def kind(key):
    """What a record key measures, from its name."""
    if 'accuracy' in key or 'f1' in key:
        return 'score'
    return 'stage2 validation cross-entropy' if key.startswith('val_') else 'loss'


def test_stage2_panels_never_mix_scores_losses_or_the_two_loss_definitions():
    for panel in semantic_alignment_train.PANELS:
        kinds = {kind(key) for _, key in panel.series}
        assert len(kinds) == 1, panel.file
        assert ('loss' in panel.ylabel) == (kinds == {'loss'}), panel.file


def test_stage1_panels_are_losses_with_validation_of_the_same_loss():
    for panel in pretrain.PANELS:
        assert panel.ylabel == 'loss'
        assert all('accuracy' not in key and 'f1' not in key for _, key in panel.series)
