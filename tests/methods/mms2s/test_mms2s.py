"""MMS2S: modality attention, masked set decoding, order-free set loss, padding, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmerbench
from mmerbench.testing.fixtures import make_learnable_dataset, random_masked_inputs
from mmerbench_methods.mms2s.method import frequency_order_loss, set_loss
from mmerbench_methods.mms2s.model import MMS2S, MMS2SConfig, ModalityAttention

DIMS = {"text": 6, "audio": 5, "vision": 3}


def _model(**overrides) -> MMS2S:
    torch.manual_seed(0)
    config = MMS2SConfig(modality_dims=DIMS, n_labels=4, dim=8, heads=2, encoder_layers=1, decoder_layers=1,
                         feedforward=16, dropout=0.0, **overrides)
    return MMS2S(config).eval()


def test_modality_attention_weighs_only_present_modalities():
    torch.manual_seed(0)
    attention = ModalityAttention(dim=8, heads=2)
    state, contexts = torch.randn(2, 3, 8), torch.randn(2, 3, 3, 8)
    present = torch.tensor([[True, False, True], [True, True, True]])
    fused, weights = attention(state, contexts, present)
    assert weights.shape == (2, 3, 2, 3)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 2))
    assert (weights[0, :, :, 1] == 0).all() and (weights[1] > 0).all()
    changed = contexts.clone()
    changed[0, :, 1] += 10.0  # the absent modality of sample 0
    assert torch.allclose(attention(state, changed, present)[0][0], fused[0])
    # heads weigh modalities independently
    assert not torch.allclose(weights[1, :, 0], weights[1, :, 1])


def test_greedy_decoding_never_repeats_a_label_and_threshold_half_gives_the_decoded_set():
    model = _model()
    with torch.no_grad():  # a decoder that always prefers label 2, then label 0, over EOS
        model.output.weight.zero_()
        model.output.bias.copy_(torch.tensor([3.0, -5.0, 6.0, -5.0, 1.0]))
    features, masks = random_masked_inputs(DIMS, {"text": [4, 3], "audio": [6, 2], "vision": [3, 3]},
                                           {"text": 4, "audio": 6, "vision": 3})
    emitted, best = model.greedy_decode(features, masks)
    assert emitted.tolist() == [[True, False, True, False]] * 2  # 2, then 0 (2 masked), then EOS
    from mmerbench_methods._blocks.label_sequences import set_probabilities
    proba = set_probabilities(emitted, best)
    assert ((proba > 0.5) == emitted).all()


def _biased(bias):
    model = _model()
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(torch.tensor(bias))
    return model


def test_the_set_loss_accepts_any_order_and_the_fixed_order_does_not():
    features, masks = random_masked_inputs(DIMS, {"text": [4], "audio": [6], "vision": [3]},
                                           {"text": 4, "audio": 6, "vision": 3})
    labels = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    order = np.array([0, 1, 2, 3])  # label 0 first
    model = _biased([-4.0, 4.0, -4.0, -4.0, 0.0])  # the decoder wants label 1 first
    memory = model.encode(features, masks)
    free = set_loss(model, memory, masks, labels)
    fixed = frequency_order_loss(model, memory, masks, labels, order)
    assert free < fixed - 1.0
    # Swap which label the decoder prefers: the set loss does not care, the fixed order does.
    swapped = _biased([4.0, -4.0, -4.0, -4.0, 0.0])
    memory = swapped.encode(features, masks)
    assert torch.allclose(set_loss(swapped, memory, masks, labels), free, atol=1e-5)


def test_with_one_label_per_sample_both_targets_agree():
    model = _model()
    features, masks = random_masked_inputs(DIMS, {"text": [4, 2, 3], "audio": [6, 2, 4], "vision": [3, 1, 2]},
                                           {"text": 4, "audio": 6, "vision": 3})
    labels = torch.eye(4)[[2, 0, 3]]
    memory = model.encode(features, masks)
    assert torch.allclose(set_loss(model, memory, masks, labels),
                          frequency_order_loss(model, memory, masks, labels, np.arange(4)), atol=1e-5)


def test_padding_batch_mates_and_missing_modalities():
    model = _model()
    lengths = {"text": [4, 2, 3], "audio": [10, 3, 0], "vision": [4, 0, 2]}
    features, masks = random_masked_inputs(DIMS, lengths, {"text": 5, "audio": 12, "vision": 4})
    emitted, best = model.greedy_decode(features, masks)
    assert torch.isfinite(best).all()
    garbage = {m: x.clone() for m, x in features.items()}
    for m in DIMS:
        garbage[m][~masks[m]] = 40.0
    assert torch.allclose(best, model.greedy_decode(garbage, masks)[1], atol=1e-5)
    for i in range(3):
        alone = model.greedy_decode({m: x[i:i + 1] for m, x in features.items()},
                                    {m: k[i:i + 1] for m, k in masks.items()})
        assert torch.allclose(alone[1], best[i:i + 1], atol=1e-5) and torch.equal(alone[0], emitted[i:i + 1])
    model.train()
    loss = set_loss(model, model.encode(features, masks), masks, torch.eye(4)[[0, 1, 2]] + torch.eye(4)[[3, 3, 0]])
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_mms2s_presets_and_bad_target():
    method = mmerbench.make_method("mms2s")
    assert set(type(method).presets) == {"paper", "cpu"} and method.target == "set"
    data = make_learnable_dataset(n_train=8, n_valid=4, n_test=4)
    with pytest.raises(mmerbench.errors.UsageError, match="target='random' is not valid: use one of set, frequency"):
        mmerbench.make_method("mms2s", target="random", epochs=1).fit(data.train, data.valid)


@pytest.mark.parametrize("target", [pytest.param("set", marks=pytest.mark.slow), "frequency"])
def test_mms2s_learns_a_small_synthetic_set_better_than_the_prior(target):
    data = make_learnable_dataset(seed=0)
    prior = mmerbench.make_method("prior").fit(data.train, data.valid)
    method = mmerbench.make_method("mms2s", dim=16, heads=2, encoder_layers=1, decoder_layers=1, feedforward=32,
                                   dropout=0.0, target=target, epochs=5, batch_size=16, lr=3e-3, random_state=0)
    method.fit(data.train, data.valid)
    prior_f1 = mmerbench.score(data.test.labels, prior.predict(data.test))["mif1"]
    method_f1 = mmerbench.score(data.test.labels, method.predict(data.test))["mif1"]
    assert method_f1 >= prior_f1 + 0.05, f"MMS2S ({target}) test miF1 {method_f1:.3f} vs prior {prior_f1:.3f}"


def test_a_decoder_step_never_sees_later_labels():
    model = _model()
    features, masks = random_masked_inputs(DIMS, {"text": [4], "audio": [6], "vision": [3]},
                                           {"text": 4, "audio": 6, "vision": 3})
    memory = model.encode(features, masks)
    prefix = torch.tensor([[model.bos, 1, 2]])
    none = torch.zeros(1, 3, 4, dtype=torch.bool)
    full, _ = model.decode_logits(prefix, memory, masks, none)
    first, _ = model.decode_logits(prefix[:, :1], memory, masks, none[:, :1])
    two, _ = model.decode_logits(prefix[:, :2], memory, masks, none[:, :2])
    assert torch.allclose(full[:, :1], first, atol=1e-5) and torch.allclose(full[:, :2], two, atol=1e-5)


def _sequence_log_prob(model: MMS2S, memory, masks, labels: list[int]) -> float:
    """Teacher-forced log-probability of one sample's label sequence followed by EOS."""
    q = model.config.n_labels
    total, emitted = 0.0, torch.zeros(1, 1, q, dtype=torch.bool)
    prefix = torch.tensor([[model.bos]])
    for token in [*labels, model.eos]:
        logits, _ = model.decode_logits(prefix, memory, masks, emitted)
        total += float(torch.log_softmax(logits[0, -1], dim=-1)[token])
        if token == model.eos:
            break
        prefix = torch.cat([prefix, torch.tensor([[token]])], dim=1)
        emitted = torch.cat([emitted, (emitted[:, -1] | torch.nn.functional.one_hot(torch.tensor([token]), q).bool())
                             [:, None]], dim=1)
    return total


def test_top_k_decoding_is_greedy_at_one_and_exhaustive_when_k_covers_every_sequence():
    import itertools

    model = _model()
    features, masks = random_masked_inputs(DIMS, {"text": [4, 3, 2], "audio": [6, 5, 0], "vision": [2, 4, 3]},
                                           {"text": 4, "audio": 6, "vision": 4})
    q = model.config.n_labels
    with torch.no_grad():
        greedy, greedy_best = model.greedy_decode(features, masks)
        emitted, best, _ = model.top_k_decode(features, masks, 1)
        assert torch.equal(emitted, greedy) and torch.allclose(best, greedy_best)
        # Every label sequence without repeats: with k that large the beam is the exhaustive search.
        sequences = [list(p) for n in range(q + 1) for p in itertools.permutations(range(q), n)]
        emitted, _, log_prob = model.top_k_decode(features, masks, len(sequences))
        memory = model.encode(features, masks)
        for i in range(3):
            one = {m: x[i:i + 1] for m, x in memory.items()}
            one_mask = {m: x[i:i + 1] for m, x in masks.items()}
            scores = [_sequence_log_prob(model, one, one_mask, s) for s in sequences]
            winner = sequences[int(np.argmax(scores))]
            assert float(log_prob[i]) == pytest.approx(max(scores), abs=1e-4)
            assert set(np.flatnonzero(emitted[i].numpy())) == set(winner)


def test_top_k_is_a_checked_parameter_and_reaches_prediction():
    data = make_learnable_dataset(n_train=16, n_valid=8, n_test=8)
    small = dict(dim=8, heads=2, encoder_layers=1, decoder_layers=1, feedforward=16, epochs=1, batch_size=16)
    fitted = mmerbench.make_method("mms2s", **small).fit(data.train, data.valid)
    assert fitted.top_k == 1
    greedy = fitted.predict_proba(data.test)
    fitted.set_params(top_k=4)
    beam = fitted.predict_proba(data.test)
    assert beam.shape == greedy.shape and ((beam >= 0) & (beam <= 1)).all()
    with pytest.raises(mmerbench.errors.UsageError, match="top_k=0 is not valid"):
        mmerbench.make_method("mms2s", **small, top_k=0).fit(data.train, data.valid)
