"""Stage 2 modules of model.py: the label bank's prototypes learn (gradients reach every
parameter), channel-text fusion listens to the channel descriptions and ignores padded channels,
the pooling head is normalised and ignores invalid tokens, the label bank takes any label list."""
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from model import (ChannelTextFusion, EncoderConfig, LearnableLabelBank, SemanticAlignmentHead,
                   SemanticAlignmentModel)
from semantic_loss import semantic_infonce

pytestmark = pytest.mark.usefixtures('one_torch_thread')

D, E = 32, 24                       # model width, text width (tiny)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def fake_text(L, N, seed, E=E):
    """Token embeddings (L, N, E), masks with varying lengths, sentence embeddings (L, E)."""
    g = gen(seed)
    tokens = torch.randn(L, N, E, generator=g)
    lengths = torch.randint(2, N + 1, (L,), generator=g)
    lengths[0] = N
    mask = torch.arange(N)[None, :] < lengths[:, None]
    tokens = tokens * mask[..., None]
    return tokens, mask, F.normalize(torch.randn(L, E, generator=g), dim=-1)


def tiny_batch(B=4, T=200, C=6, seed=0, pad_channels=0, lengths=None):
    g = gen(seed)
    x = torch.randn(B, T, C + pad_channels, generator=g)
    mask = torch.zeros(B, C + pad_channels, dtype=torch.bool)
    mask[:, :C] = True
    ctype = torch.full((B, C + pad_channels), 3)
    ctype[:, :C] = torch.tensor([0, 0, 0, 1, 1, 1][:C])
    x[:, :, C:] = 0
    length = torch.full((B,), T) if lengths is None else torch.tensor(lengths)
    return x, length, mask, ctype


# ------------------------------------------------------------------ gradients

def test_every_label_bank_parameter_gets_a_gradient_from_the_loss():
    torch.manual_seed(0)
    model = SemanticAlignmentModel(EncoderConfig(d_model=D, depth=2, n_heads=2), text_dim=E, num_prototypes=3,
                                   memory_bank_size=8)
    x, length, mask, ctype = tiny_batch(B=6)
    ch_emb = F.normalize(torch.randn(6, 6, E, generator=gen(1)), dim=-1)
    tokens, tmask, sent = fake_text(4, 5, seed=2)
    labels = torch.tensor([0, 1, 2, 3, 1, 0])
    label_sim = sent @ sent.T
    model.memory_bank.enqueue(F.normalize(torch.randn(5, E, generator=gen(3)), dim=-1), torch.tensor([2, 0, 3, 1, 2]))

    imu = model(x, length, mask, ctype, ch_emb)
    protos = model.label_bank(tokens, tmask, sent)
    assert protos.shape == (4, 3, E)
    loss, _ = semantic_infonce(imu, protos, labels, model.scale(), label_sim, 0.1,
                               *model.memory_bank.entries())
    loss.backward()
    for name, p in model.label_bank.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f'label_bank.{name} gets no gradient'
    for part in (model.fusion, model.head):
        for name, p in part.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.logit_scale.grad is not None and model.logit_scale.grad != 0
    # the K prototypes of a class are not identical (each query attends its own way)
    assert not torch.allclose(protos[:, 0], protos[:, 1])


def test_without_channel_text_fusion_the_channel_texts_do_not_matter():
    torch.manual_seed(0)
    model = SemanticAlignmentModel(EncoderConfig(d_model=D, depth=2, n_heads=2), text_dim=E, fusion=False).eval()
    assert model.fusion is None and not any(k.startswith('fusion.') for k in model.state_dict())
    x = torch.randn(2, 40, 6)
    length, mask, types = torch.tensor([40, 40]), torch.ones(2, 6, dtype=torch.bool), torch.tensor([[0, 0, 0, 1, 1, 1]] * 2)
    a = model(x, length, mask, types, torch.randn(2, 6, E))
    b = model(x, length, mask, types, torch.randn(2, 6, E))
    assert torch.equal(a, b)
    with_fusion = SemanticAlignmentModel(EncoderConfig(d_model=D, depth=2, n_heads=2), text_dim=E).eval()
    assert not torch.equal(with_fusion(x, length, mask, types, torch.randn(2, 6, E)),
                           with_fusion(x, length, mask, types, torch.randn(2, 6, E)))


def test_frozen_label_bank_is_the_sentence_embeddings_and_is_not_trained():
    model = SemanticAlignmentModel(EncoderConfig(d_model=D, depth=2, n_heads=2), text_dim=E, num_prototypes=3,
                                   label_bank='frozen')
    tokens, tmask, sent = fake_text(4, 5, seed=2)
    protos = model.label_bank(tokens, tmask, 2.0 * sent)
    assert protos.shape == (4, 3, E)
    assert_close(protos, sent[:, None, :].expand(4, 3, E))
    assert not any(p.requires_grad for p in model.label_bank.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    with pytest.raises(ValueError, match='label_bank'):
        SemanticAlignmentModel(EncoderConfig(d_model=D, depth=2, n_heads=2), text_dim=E, label_bank='fixed')


def test_fixed_temperature_gets_no_gradient():
    model = SemanticAlignmentModel(EncoderConfig(d_model=D, depth=2, n_heads=2), text_dim=E,
                                   learn_temperature=False, temperature=0.05)
    assert not model.logit_scale.requires_grad
    assert model.scale().item() == pytest.approx(20.0)


# ------------------------------------------------------------------ channel-text fusion

def fusion_inputs(B=2, C=4, P=5, pad=1, seed=0):
    g = gen(seed)
    h = torch.randn(B, C, P, D, generator=g)
    emb = F.normalize(torch.randn(B, C, E, generator=g), dim=-1)
    mask = torch.ones(B, C, dtype=torch.bool)
    if pad:
        mask[:, C - pad:] = False
    return h, emb, mask


def test_fusion_output_depends_on_channel_descriptions():
    torch.manual_seed(0)
    fusion = ChannelTextFusion(D, E, heads=2).eval()
    h, emb, mask = fusion_inputs(pad=0)
    out = fusion(h, emb, mask)
    assert out.shape == h.shape
    other = emb.clone()
    other[:, 1] = F.normalize(torch.randn(2, E, generator=gen(5)), dim=-1)  # describe channel 1 differently
    changed = fusion(h, other, mask)
    # channel 1's own tokens change, and through the cross-attention so do the others
    assert not torch.allclose(changed[:, 1], out[:, 1])
    assert not torch.allclose(changed[:, 0], out[:, 0])
    # swapping two channels (tokens and descriptions together) swaps the outputs: no channel identity
    perm = torch.tensor([2, 0, 1, 3])
    assert_close(fusion(h[:, perm], emb[:, perm], mask), out[:, perm], rtol=1e-5, atol=1e-5)


def test_fusion_ignores_padded_channels():
    torch.manual_seed(0)
    fusion = ChannelTextFusion(D, E, heads=2).eval()
    h, emb, mask = fusion_inputs(pad=2)
    out = fusion(h, emb, mask)
    h2, emb2 = h.clone(), emb.clone()
    h2[:, 2:] = torch.randn(2, 2, 5, D, generator=gen(9)) * 10
    emb2[:, 2:] = torch.randn(2, 2, E, generator=gen(10))
    out2 = fusion(h2, emb2, mask)
    assert_close(out2[:, :2], out[:, :2], rtol=0, atol=1e-6)
    assert torch.isfinite(out).all()
    # the same as a window without the padded channels at all
    alone = fusion(h[:, :2], emb[:, :2], mask[:, :2])
    assert_close(alone, out[:, :2], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ pooling head

def test_head_output_is_unit_norm_and_ignores_invalid_tokens():
    torch.manual_seed(0)
    head = SemanticAlignmentHead(D, E, heads=2).eval()
    B, C, P = 3, 4, 6
    h = torch.randn(B, C, P, D, generator=gen(1))
    valid = torch.ones(B, C, P, dtype=torch.bool)
    valid[0, :, 4:] = False                        # short window
    valid[1, 3] = False                            # padded channel
    valid[2, 1:, 2:] = False
    out = head(h, valid)
    assert out.shape == (B, E) and out.dtype == torch.float32
    assert_close(out.norm(dim=-1), torch.ones(B))
    h2 = torch.where(valid[..., None], h, torch.randn(B, C, P, D, generator=gen(2)) * 100)
    assert_close(head(h2, valid), out, rtol=0, atol=1e-6)
    # a valid token does matter
    h3 = h.clone()
    h3[0, 0, 0] += torch.randn(D, generator=gen(3)) * 3
    assert not torch.allclose(head(h3, valid)[0], out[0])


def test_full_model_ignores_padded_channels_and_samples_past_length():
    torch.manual_seed(0)
    model = SemanticAlignmentModel(EncoderConfig(d_model=D, depth=2, n_heads=2), text_dim=E).eval()
    x, length, mask, ctype = tiny_batch(B=3, T=200, C=3, pad_channels=3, lengths=[200, 130, 60])
    emb = F.normalize(torch.randn(3, 6, E, generator=gen(4)), dim=-1)
    with torch.no_grad():
        out = model(x, length, mask, ctype, emb)
        x2, emb2 = x.clone(), emb.clone()
        x2[:, :, 3:] = torch.randn(3, 200, 3, generator=gen(5))               # padded channels
        emb2[:, 3:] = torch.randn(3, 3, E, generator=gen(6))
        for b, n in enumerate([200, 130, 60]):
            x2[b, n // 20 * 20:] = torch.randn(200 - n // 20 * 20, 6, generator=gen(7 + b))   # past the last full patch
        out2 = model(x2, length, mask, ctype, emb2)
    assert_close(out.norm(dim=-1), torch.ones(3))
    assert_close(out2, out, rtol=0, atol=1e-5)


# ------------------------------------------------------------------ label bank, any labels

def test_label_bank_any_number_of_labels_and_independent_of_the_others():
    torch.manual_seed(0)
    bank = LearnableLabelBank(E, num_prototypes=3, heads=4).eval()
    tokens, mask, sent = fake_text(7, 9, seed=3)
    with torch.no_grad():
        all7 = bank(tokens, mask, sent)
        assert all7.shape == (7, 3, E)
        assert_close(all7.norm(dim=-1), torch.ones(7, 3))
        for L in (1, 2, 5):
            sub = bank(tokens[-L:], mask[-L:], sent[-L:])
            assert sub.shape == (L, 3, E)
            assert_close(sub, all7[-L:], rtol=1e-5, atol=1e-6)
        # padding length does not matter: the last label cut to its own tokens
        n = int(mask[-1].sum())
        alone = bank(tokens[-1:, :n], mask[-1:, :n], sent[-1:])
        assert_close(alone, all7[-1:], rtol=1e-5, atol=1e-6)


def test_label_bank_on_real_text_for_labels_never_seen(text_model_once):
    from text_encoder import TextEmbedder
    text = TextEmbedder()
    torch.manual_seed(0)
    bank = LearnableLabelBank(text.dim, num_prototypes=3).eval()
    trained = ['walking', 'sitting', 'lying']
    unseen = ['juggling three balls', 'riding a horse', 'vacuuming', 'walking', 'x', 'playing the cello in an orchestra']
    with torch.no_grad():
        for labels in (trained, unseen, unseen[:1]):
            tok, m = text.tokens(labels)
            p = bank(tok, m, text.sentences(labels))
            assert p.shape == (len(labels), 3, 384)
            assert torch.isfinite(p).all()
            assert_close(p.norm(dim=-1), torch.ones(len(labels), 3))
        # 'walking' gets the same prototypes in either list
        tok, m = text.tokens(trained)
        a = bank(tok, m, text.sentences(trained))[0]
        tok, m = text.tokens(unseen)
        b = bank(tok, m, text.sentences(unseen))[3]
        assert_close(a, b, rtol=1e-5, atol=1e-6)
