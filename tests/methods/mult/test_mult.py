"""MulT: six crossmodal Transformers over sequences of different lengths; masking; learning."""

from __future__ import annotations

import pytest
import torch

import mmerbench
from mmerbench_methods.mult.model import MulT, MulTConfig
from mmerbench.testing.fixtures import random_masked_inputs

DIMS = {"text": 6, "audio": 5, "vision": 3}


def _inputs(lengths, steps, seed=0):
    return random_masked_inputs(DIMS, lengths, steps, seed)


def _model(**overrides) -> MulT:
    torch.manual_seed(0)
    config = MulTConfig(modality_dims=DIMS, n_labels=4, dim=8, heads=2, layers=1, memory_layers=1, **overrides)
    return MulT(config).eval()


def test_mult_has_six_crossmodal_transformers_and_accepts_three_lengths():
    model = _model()
    assert sorted(model.crossmodal) == sorted(
        ["text<-audio", "text<-vision", "audio<-text", "audio<-vision", "vision<-text", "vision<-audio"])
    assert model.out.in_features == 6 * 8  # three targets x two sources x dim
    features, masks = _inputs({"text": [7, 3], "audio": [11, 5], "vision": [4, 4]},
                              {"text": 7, "audio": 11, "vision": 4})
    logits = model(features, masks)
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()


@pytest.mark.parametrize("kernel", [1, 3])
def test_mult_ignores_padding_and_reads_the_last_valid_step(kernel):
    model = _model(kernel_nonverbal=kernel)
    lengths = {"text": [5, 2], "audio": [9, 4], "vision": [3, 1]}
    features, masks = _inputs(lengths, {"text": 5, "audio": 9, "vision": 3})
    logits = model(features, masks)
    # Garbage in padded steps, and more padding, change nothing.
    longer, longer_masks = {}, {}
    for m in DIMS:
        x = torch.nn.functional.pad(features[m], (0, 0, 0, 4), value=0.0)
        mask = torch.nn.functional.pad(masks[m], (0, 4))
        x[~mask] = 30.0
        longer[m], longer_masks[m] = x, mask
    assert torch.allclose(logits, model(longer, longer_masks), atol=1e-5)


def test_mult_every_modality_reaches_the_output_and_a_missing_one_is_harmless():
    model = _model()
    features, masks = _inputs({"text": [4, 4], "audio": [6, 6], "vision": [3, 3]},
                              {"text": 4, "audio": 6, "vision": 3})
    logits = model(features, masks)
    for m in DIMS:
        changed = dict(features)
        changed[m] = features[m].clone()
        changed[m][0, 0] += 3.0
        assert not torch.allclose(logits[0], model(changed, masks)[0]), f"{m} does not reach the output"
        assert torch.allclose(logits[1], model(changed, masks)[1], atol=1e-6)  # other samples untouched
    # Sample 0 without audio: finite outputs and finite gradients in training mode.
    masks["audio"] = masks["audio"].clone()
    masks["audio"][0] = False
    features["audio"] = features["audio"] * masks["audio"][..., None]
    model.train()
    loss = model(features, masks).sum()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_mult_paper_defaults_and_presets():
    method = mmerbench.make_method("mult")  # the paper's MOSEI settings
    assert (method.dim, method.heads, method.layers, method.lr, method.batch_size, method.grad_clip, method.epochs,
            method.embed_dropout, method.output_dropout, method.kernel_text, method.kernel_nonverbal) == (
        40, 8, 4, 1e-3, 16, 1.0, 20, 0.3, 0.1, 1, 3)
    code = mmerbench.make_method("mult", preset="reference-code")  # the released code's defaults
    assert (code.dim, code.heads, code.layers, code.memory_layers, code.batch_size, code.grad_clip, code.epochs,
            code.embed_dropout, code.output_dropout, code.kernel_nonverbal) == (30, 5, 5, 5, 24, 0.8, 40, 0.25, 0.0, 1)
    assert set(type(method).presets) == {"paper", "reference-code", "cpu"}
    assert type(method).published_threshold == 0.5
    with pytest.raises(mmerbench.errors.UsageError, match="Unknown hyperparameter"):
        mmerbench.make_method("mult", dims=3)


def test_attention_dropout_is_keyed_by_the_source_modality():
    model = _model(attention_dropout=0.3, attention_dropout_nonverbal=0.05)

    def dropout_of(transformer):
        return {layer.cross_attention.dropout for layer in transformer.layers}

    assert dropout_of(model.crossmodal["audio<-text"]) == {0.3}  # text source
    assert dropout_of(model.crossmodal["vision<-text"]) == {0.3}
    assert dropout_of(model.crossmodal["text<-audio"]) == {0.05}  # nonverbal source, text target
    assert dropout_of(model.crossmodal["audio<-vision"]) == {0.05}
    assert all(dropout_of(model.memory[m]) == {0.3} for m in DIMS)  # memories use the text value


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        _model(kernel_nonverbal=2)


def test_mult_learns_a_small_synthetic_set_better_than_the_prior():
    from mmerbench.testing.fixtures import make_learnable_dataset

    data = make_learnable_dataset(seed=0)
    prior = mmerbench.make_method("prior").fit(data.train, data.valid)
    method = mmerbench.make_method("mult", dim=8, heads=2, layers=1, memory_layers=1, epochs=5, batch_size=16, lr=3e-3, random_state=0)
    method.fit(data.train, data.valid)
    prior_f1 = mmerbench.score(data.test.labels, prior.predict(data.test))["mif1"]
    method_f1 = mmerbench.score(data.test.labels, method.predict(data.test))["mif1"]
    assert method_f1 >= prior_f1 + 0.05, f"MulT test miF1 {method_f1:.3f} vs prior {prior_f1:.3f}"
