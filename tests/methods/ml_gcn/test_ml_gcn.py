"""ML-GCN: the co-occurrence adjacency against its formula, the GCN classifiers, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmerbench
from mmerbench.evaluation.metrics import micro_f1
from mmerbench.testing.fixtures import make_tiny_dataset

from mmerbench_methods._blocks.graph import GraphConvolution, conditional_cooccurrence, cooccurrence_adjacency
from mmerbench_methods.ml_gcn.method import MLGCNMethod

# Four samples, three labels: N = (3, 2, 1), M_01 = 2, M_02 = 1, M_12 = 0.
LABELS = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 0, 0]])


def test_conditional_probabilities_by_hand():
    expected = np.array([[1.0, 2 / 3, 1 / 3], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    assert np.allclose(conditional_cooccurrence(LABELS), expected)


def test_adjacency_equals_the_paper_formula_on_a_hand_made_label_matrix():
    # tau = 0.4 keeps P(1|0) = 2/3, P(0|1) = 1, P(0|2) = 1 and drops P(2|0) = 1/3.
    # Re-weighting with p = 0.2: each kept row spreads p over its neighbours, 1 - p on the diagonal.
    reweighted = np.array([[0.8, 0.2, 0.0], [0.2, 0.8, 0.0], [0.2, 0.0, 0.8]])
    degree = reweighted.sum(axis=1)  # (1, 1, 1)
    expected = reweighted / np.sqrt(degree)[:, None] / np.sqrt(degree)[None, :]
    assert np.allclose(cooccurrence_adjacency(LABELS, tau=0.4, p=0.2), expected)
    # A label with no neighbour above tau keeps only its (normalised) self-loop.
    lonely = cooccurrence_adjacency(np.array([[1, 0], [0, 1]]), tau=0.4, p=0.2)
    assert np.allclose(lonely, np.eye(2))


def test_adjacency_rejects_bad_parameters():
    with pytest.raises(ValueError, match="p=1.0"):
        cooccurrence_adjacency(LABELS, p=1.0)
    with pytest.raises(ValueError, match="tau=1.5"):
        cooccurrence_adjacency(LABELS, tau=1.5)


def test_graph_convolution_is_a_times_x_times_w():
    torch.manual_seed(0)
    layer = GraphConvolution(4, 3)
    nodes, adjacency = torch.randn(5, 4), torch.rand(5, 5)
    assert torch.allclose(layer(nodes, adjacency), adjacency @ nodes @ layer.weight, atol=1e-6)


def test_graph_comes_from_training_labels_and_makes_the_classifiers():
    dataset = make_tiny_dataset(n_train=32, n_valid=8, n_test=8)
    method = MLGCNMethod(**MLGCNMethod.test_params).fit(dataset.train, dataset.valid)
    assert np.allclose(method.adjacency_, cooccurrence_adjacency(dataset.train.labels, tau=0.4, p=0.2))
    model = method.model_.eval()
    assert torch.allclose(model.adjacency, torch.as_tensor(method.adjacency_, dtype=torch.float32))
    # Scores are the pooled features times the GCN's per-label classifiers, and the classifiers
    # change with the graph (labels share information through it).
    from mmerbench.training import Batch

    batch = Batch.from_split(dataset.test, np.arange(len(dataset.test)), torch.device("cpu"))
    with torch.no_grad():
        classifiers = model.classifiers()
        pooled = model.features(batch.features, batch.masks)
        assert torch.allclose(model(batch.features, batch.masks), pooled @ classifiers.T, atol=1e-5)
        model.adjacency.copy_(torch.eye(4))
        assert not torch.allclose(model.classifiers(), classifiers)


@pytest.mark.learning
def test_ml_gcn_learns_beyond_the_label_prior():
    dataset = make_tiny_dataset(n_train=300, n_valid=100, n_test=200, seed=1)
    params = {**MLGCNMethod.test_params, "dim": 16, "encoder_layers": 0, "dropout": 0.0, "lr": 1e-2, "epochs": 15,
              "random_state": 0}
    method = mmerbench.make_method("ml-gcn", **params).fit(dataset.train, dataset.valid)
    prior = mmerbench.make_method("prior").fit(dataset.train, dataset.valid)
    truth = dataset.test.labels.astype(bool)
    learned = micro_f1(truth, method.predict(dataset.test).astype(bool))
    baseline = micro_f1(truth, prior.predict(dataset.test).astype(bool))
    assert learned >= baseline + 0.05, (learned, baseline)


def test_attention_probabilities_are_not_dropped_by_default_so_the_fused_kernel_applies():
    from mmerbench_methods._blocks.attention import MultiheadAttention

    data = make_tiny_dataset(n_train=24, n_valid=8, n_test=8, q=4)
    for params, expected in (({}, 0.0), ({"attention_dropout": 0.2}, 0.2)):
        method = MLGCNMethod(dim=8, encoder_layers=1, heads=2, label_embedding_dim=8, gcn_hidden=16, **params)
        model = method.build_model(data.train)
        attention = [m.dropout for m in model.modules() if isinstance(m, MultiheadAttention)]
        residual = [m.p for m in model.encoders.modules() if isinstance(m, torch.nn.Dropout)]
        assert attention and all(p == expected for p in attention)
        assert residual and all(p == 0.1 for p in residual)  # the residual branches keep ``dropout``


def test_paper_preset_reads_text_only_like_sgm_and_lsan_and_multimodal_is_an_option():
    """The LDDU paper groups ML-GCN with SGM and LSAN (single-modality, text here), not with the
    multimodal methods; every modality is the ``multimodal`` preset."""
    data = make_tiny_dataset(n_train=24, n_valid=8, n_test=8, q=4)
    small = dict(MLGCNMethod.test_params, epochs=1)
    text_only = mmerbench.make_method("ml-gcn", **small).fit(data.train, data.valid)
    assert text_only.input_modalities == "text" and text_only.model_.modalities == ["text"]
    assert MLGCNMethod.presets["multimodal"] == {"input_modalities": "all"}
    every = mmerbench.make_method("ml-gcn", **small, **MLGCNMethod.presets["multimodal"]).fit(data.train, data.valid)
    assert every.model_.modalities == list(data.train.modalities)
    # Audio and vision reach the prediction only in the multimodal variant.
    changed = data.test.take(np.arange(len(data.test)))
    noise = np.random.default_rng(0).normal(size=changed.features["audio"].shape)
    changed.features["audio"] = changed.features["audio"] * noise  # not a constant: the input norm removes one
    assert np.allclose(text_only.predict_proba(changed), text_only.predict_proba(data.test))
    assert not np.allclose(every.predict_proba(changed), every.predict_proba(data.test))


def test_requires_follows_the_input_so_text_less_conditions_are_refused_for_the_text_variant():
    assert MLGCNMethod.requires == {}  # the planner's view: the multimodal variant runs on any modalities
    assert mmerbench.make_method("ml-gcn").requires == {"modalities": ("text",)}
    assert mmerbench.make_method("ml-gcn", input_modalities="all").requires == {}
    data = make_tiny_dataset(n_train=24, n_valid=8, n_test=8, q=4)
    with pytest.raises(mmerbench.errors.UsageError, match="input_modalities='audio'.*text, all"):
        mmerbench.make_method("ml-gcn", **MLGCNMethod.test_params, input_modalities="audio").fit(data.train,
                                                                                                  data.valid)
