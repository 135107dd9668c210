"""TAILOR: soft alignment, adversarial discriminator behind gradient reversal, orthogonality, learning."""

from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F

import mmerbench
from mmerbench_methods._blocks.losses import sequence_orthogonality_loss
from mmerbench_methods.tailor.model import TAILOR, TAILORConfig
from mmerbench.testing.fixtures import random_masked_inputs

DIMS = {"text": 6, "audio": 5, "vision": 3}


def _inputs(lengths, steps, seed=0):
    return random_masked_inputs(DIMS, lengths, steps, seed)


def _model(soft: bool, max_steps: int, **overrides) -> TAILOR:
    torch.manual_seed(0)
    settings = dict(hidden=8, heads=2, feedforward=16, dropout=0.0, text_layers=1, nonverbal_layers=1, fusion_layers=1)
    config = TAILORConfig(modality_dims=DIMS, n_labels=3, reference="text", max_steps=max_steps, soft_alignment=soft,
                          **{**settings, **overrides})
    return TAILOR(config)


UNALIGNED = ({"text": [5, 3, 4], "audio": [9, 6, 0], "vision": [3, 3, 2]}, {"text": 5, "audio": 9, "vision": 3})


def test_tailor_soft_alignment_puts_every_modality_on_the_text_axis():
    model = _model(soft=True, max_steps=5).eval()
    features, masks = _inputs(*UNALIGNED)
    aligned, aligned_masks, log_probs = model.align(features, masks)
    assert {m: tuple(x.shape[:2]) for m, x in aligned.items()} == {m: (3, 5) for m in DIMS}
    assert torch.equal(aligned_masks["vision"], masks["text"])
    assert not aligned_masks["audio"][2].any()  # sample 2 has no audio: nothing valid after alignment
    assert log_probs["audio"].shape == (3, 9, 6)  # per source frame: blank + 5 text positions
    out = model(features, masks)
    ctc = model.ctc_loss(out)
    assert torch.isfinite(out["logits"]).all() and torch.isfinite(ctc) and float(ctc) > 0


def test_tailor_ignores_padding_in_both_alignment_modes():
    for soft in (True, False):
        model = _model(soft=soft, max_steps=9).eval()
        features, masks = _inputs(*UNALIGNED)
        logits = model(features, masks)["logits"]
        padded, padded_masks = {}, {}
        for m in DIMS:
            x = F.pad(features[m], (0, 0, 0, 2))
            mask = F.pad(masks[m], (0, 2))
            padded[m], padded_masks[m] = x.masked_fill(~mask[..., None], 7.0), mask
        assert torch.allclose(logits, model(padded, padded_masks)["logits"], atol=1e-5), f"soft={soft}"
        if not soft:
            assert float(model.ctc_loss(model(features, masks))) == 0.0


def test_tailor_discriminator_reverses_the_gradient_of_common_features_only():
    model = _model(soft=False, max_steps=9).eval()  # no dropout: both computations see the same net
    features, masks = _inputs(*UNALIGNED)
    out = model(features, masks)
    adversarial = model.adversarial_loss(out)
    got_common, got_private = torch.autograd.grad(
        adversarial, [model.common[0].weight, model.private["text"][0].weight], retain_graph=True)
    # The same cross-entropies computed without gradient reversal.
    plain = 0.0
    for index, m in enumerate(model.modalities):
        valid = out["masks"][m]
        target = torch.full((int(valid.sum()),), index)
        plain = plain + F.cross_entropy(model.discriminator(out["private"][m][valid]), target)
        plain = plain + F.cross_entropy(model.discriminator(out["common"][m][valid]), target)
    plain_common, plain_private = torch.autograd.grad(plain, [model.common[0].weight, model.private["text"][0].weight])
    assert torch.allclose(got_common, -plain_common, atol=1e-7) and plain_common.abs().sum() > 0
    assert torch.allclose(got_private, plain_private, atol=1e-7) and plain_private.abs().sum() > 0
    assert torch.allclose(adversarial, plain)


def test_tailor_orthogonality_covers_private_pairs_and_common_private_pairs():
    model = _model(soft=False, max_steps=9).train()
    out = model(*_inputs(*UNALIGNED))
    private, common = out["private"], out["common"]
    expected = sum(sequence_orthogonality_loss(private[a], private[b]) for a, b in combinations(DIMS, 2))
    expected = expected + sum(sequence_orthogonality_loss(common[m], private[m]) for m in DIMS)
    assert torch.allclose(model.orthogonality_loss(out), expected)


def test_tailor_alignment_choice_and_published_threshold():
    from mmerbench.testing.fixtures import make_tiny_dataset

    from mmerbench.api import method_class

    cls = method_class("tailor")
    unaligned = make_tiny_dataset(n_train=24, n_valid=8, n_test=8)
    method = mmerbench.make_method("tailor", **{**cls.test_params, "epochs": 1}, threshold="published")
    method.fit(unaligned.train, unaligned.valid)
    assert method.fit_info_["alignment"].startswith("soft") and method.threshold_ == 0.35
    aligned = make_tiny_dataset(n_train=24, n_valid=8, n_test=8, steps=(5, 5, 5))
    method = mmerbench.make_method("tailor", **{**cls.test_params, "epochs": 1}).fit(aligned.train, aligned.valid)
    assert method.fit_info_["alignment"].startswith("none")
    try:
        mmerbench.make_method("tailor", alignment="ctc").fit(aligned.train, aligned.valid)
    except mmerbench.errors.UsageError as error:
        assert "alignment='ctc'" in str(error) and "soft" in str(error)
    else:
        raise AssertionError("a bad alignment value was accepted")


def test_tailor_learns_a_small_synthetic_set_better_than_the_prior():
    from mmerbench.testing.fixtures import make_learnable_dataset

    data = make_learnable_dataset(seed=0)
    prior = mmerbench.make_method("prior").fit(data.train, data.valid)
    method = mmerbench.make_method("tailor", hidden=32, heads=2, feedforward=32, text_layers=1, nonverbal_layers=1,
                                   fusion_layers=1, dropout=0.1, warmup=0.0, lr=5e-3, epochs=7, batch_size=16,
                                   random_state=0)
    method.fit(data.train, data.valid)
    prior_f1 = mmerbench.score(data.test.labels, prior.predict(data.test))["mif1"]
    method_f1 = mmerbench.score(data.test.labels, method.predict(data.test))["mif1"]
    assert method_f1 >= prior_f1 + 0.05, f"TAILOR test miF1 {method_f1:.3f} vs prior {prior_f1:.3f}"


def test_tailor_keeps_audio_and_vision_of_a_sample_without_text():
    model = _model(soft=True, max_steps=5).eval()
    features, masks = _inputs({"text": [5, 0], "audio": [9, 6], "vision": [3, 2]}, {"text": 5, "audio": 9, "vision": 3})
    aligned, aligned_masks, _ = model.align(features, masks)
    assert aligned_masks["audio"][1].all() and aligned_masks["vision"][1].all()  # not dropped with the text
    assert not aligned_masks["text"][1].any()
    # and a sample does not depend on the rest of its batch: alone, it gives the same logits
    both = model(features, masks)["logits"]
    alone = model({m: x[1:] for m, x in features.items()}, {m: k[1:] for m, k in masks.items()})["logits"]
    assert torch.allclose(both[1:], alone, atol=1e-5)


def test_tailor_label_query_dropout_is_drawn_per_sample():
    model = _model(soft=False, max_steps=5, dropout=0.5).train()
    captured = []
    model.decoder[0].register_forward_pre_hook(lambda module, args: captured.append(args[0].detach()))
    same = {m: x[:1].expand(4, -1, -1).clone() for m, x in _inputs(*UNALIGNED)[0].items()}
    masks = {m: k[:1].expand(4, -1).clone() for m, k in _inputs(*UNALIGNED)[1].items()}
    model(same, masks)
    queries = captured[0]  # (4, q, h): identical samples, so any difference is the dropout mask
    assert not torch.equal(queries[0] == 0, queries[1] == 0)
