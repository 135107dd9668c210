"""RAVEN: gated, norm-bounded word shifts from per-word nonverbal spans; padding; learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmerbench
from mmerbench.testing.fixtures import make_learnable_dataset, make_tiny_dataset, random_masked_inputs
from mmerbench_methods.raven.model import RAVEN, RAVENConfig, bounded_shift

DIMS = {"text": 6, "audio": 5, "vision": 3}


def _model(**overrides) -> RAVEN:
    torch.manual_seed(0)
    config = RAVENConfig(modality_dims=DIMS, n_labels=4, input_dim=8, cell_dim=8, hidden=8, **overrides)
    return RAVEN(config).eval()


@pytest.mark.parametrize("bound", ["paper", "code"])
def test_the_shift_never_exceeds_beta_times_the_word_norm(bound):
    words = torch.randn(50, 6)
    shift = torch.randn(50, 6) * torch.logspace(-3, 3, 50).unsqueeze(1)
    moved = bounded_shift(words, shift, 0.2, bound)
    assert ((moved - words).norm(dim=-1) <= 0.2 * words.norm(dim=-1) + 1e-5).all()
    # A large shift is cut to exactly the bound; direction is kept.
    big = bounded_shift(words[:1], shift[-1:], 0.2, bound) - words[:1]
    assert torch.allclose(big.norm(), 0.2 * words[0].norm(), rtol=1e-4)
    assert torch.allclose(big / big.norm(), shift[-1] / shift[-1].norm(), atol=1e-5)


def test_paper_bound_leaves_a_small_shift_untouched():
    words, shift = torch.ones(1, 4), torch.full((1, 4), 0.01)
    assert torch.allclose(bounded_shift(words, shift, 0.2, "paper"), words + shift)


def test_a_frame_shifts_only_the_word_whose_span_holds_it():
    model = _model()
    lengths = {"text": [3, 3], "audio": [9, 9], "vision": [3, 3]}  # audio: 3 frames per word
    features, masks = random_masked_inputs(DIMS, lengths, {"text": 3, "audio": 9, "vision": 3})
    base = model.shifted_words(features, masks)
    changed = dict(features)
    changed["audio"] = features["audio"].clone()
    changed["audio"][0, 4] = torch.randn(5) * 3  # frame 4 belongs to word 1
    after = model.shifted_words(changed, masks)
    moved = (after - base).norm(dim=-1)[0]
    assert moved[1] > 1e-4 and moved[0] == 0 and moved[2] == 0
    assert torch.equal(after[1], base[1])  # the other sample is untouched


def test_padding_and_batch_mates_change_nothing_and_missing_modalities_are_finite():
    model = _model()
    lengths = {"text": [4, 2], "audio": [10, 3], "vision": [4, 0]}  # sample 1 has no vision
    features, masks = random_masked_inputs(DIMS, lengths, {"text": 5, "audio": 12, "vision": 4})
    logits = model(features, masks)
    assert torch.isfinite(logits).all()
    garbage = {m: x.clone() for m, x in features.items()}
    for m in DIMS:
        garbage[m][~masks[m]] = 40.0
    assert torch.allclose(logits, model(garbage, masks), atol=1e-6)
    alone = model({m: x[1:] for m, x in features.items()}, {m: k[1:] for m, k in masks.items()})
    assert torch.allclose(alone, logits[1:], atol=1e-6)


def test_every_modality_reaches_the_output():
    model = _model()
    features, masks = random_masked_inputs(DIMS, {"text": [4], "audio": [8], "vision": [4]},
                                           {"text": 4, "audio": 8, "vision": 4})
    logits = model(features, masks)
    for m in DIMS:
        changed = dict(features)
        changed[m] = features[m] + torch.randn_like(features[m]) * masks[m][..., None]
        assert not torch.allclose(model(changed, masks), logits), f"{m} does not reach the output"


def test_raven_paper_defaults_presets_and_bad_options():
    method = mmerbench.make_method("raven")
    assert (method.input_dim, method.cell_dim, method.hidden, method.shift_weight, method.dropout, method.lr,
            method.batch_size) == (150, 150, 300, 0.2, 0.2, 1e-3, 20)
    assert set(type(method).presets) == {"paper", "cpu"}
    assert type(method).requires["modalities"] == ("text",)
    with pytest.raises(ValueError, match="gate='tanh' is not valid"):
        _model(gate="tanh")


def test_raven_on_data_without_text_names_the_method_and_the_modalities():
    data = make_tiny_dataset()
    for split in (data.train,):
        split.features.pop("text")
        split.lengths.pop("text")
    with pytest.raises(mmerbench.errors.UsageError, match=r"raven.*needs text.*\['audio', 'vision'\]"):
        mmerbench.make_method("raven", **type(mmerbench.make_method("raven")).test_params).fit(data.train)


def test_raven_learns_a_small_synthetic_set_better_than_the_prior():
    data = make_learnable_dataset(seed=0)
    prior = mmerbench.make_method("prior").fit(data.train, data.valid)
    method = mmerbench.make_method("raven", input_dim=8, cell_dim=8, hidden=16, epochs=6, batch_size=16, lr=1e-2,
                                   random_state=0)
    method.fit(data.train, data.valid)
    prior_f1 = mmerbench.score(data.test.labels, prior.predict(data.test))["mif1"]
    method_f1 = mmerbench.score(data.test.labels, method.predict(data.test))["mif1"]
    assert method_f1 >= prior_f1 + 0.05, f"RAVEN test miF1 {method_f1:.3f} vs prior {prior_f1:.3f}"
    assert np.isfinite(method.predict_proba(data.test)).all()


def test_the_gate_choice_matters():
    features, masks = random_masked_inputs(DIMS, {"text": [3], "audio": [6], "vision": [3]},
                                           {"text": 3, "audio": 6, "vision": 3})
    paper = _model(gate="sigmoid").shifted_words(features, masks)
    code = _model(gate="linear").shifted_words(features, masks)  # same weights, no squashing
    assert not torch.allclose(paper, code)
