"""HHMPN: prior-masked label message passing, label-to-modality attention, modality fusion, learning."""

from __future__ import annotations

import numpy as np
import torch

import mmerbench
from mmerbench.testing.fixtures import make_learnable_dataset, random_masked_inputs
from mmerbench_methods.hhmpn.model import HHMPN, HHMPNConfig, LabelGraphLayer, ModalityFusion, prior_label_mask

DIMS = {"text": 6, "audio": 5, "vision": 3}


def _model(mask=None, **overrides) -> HHMPN:
    torch.manual_seed(0)
    config = HHMPNConfig(modality_dims=DIMS, n_labels=4, dim=8, heads=2, encoder_layers=1, graph_layers=1,
                         feedforward=16, dropout=0.0, **overrides)
    return HHMPN(config, torch.ones(4, 4, dtype=torch.bool) if mask is None else mask).eval()


def test_prior_mask_follows_training_cooccurrence_with_self_loops():
    labels = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]])
    mask = prior_label_mask(labels)
    assert mask.tolist() == [[True, True, False, False], [True, True, False, False],
                             [False, False, True, False], [False, False, False, True]]
    # P(1 | 0) = 0.5, P(0 | 1) = 1: a threshold of 0.6 keeps only 1 -> 0's reverse
    assert prior_label_mask(labels, 0.6)[1, 0] and not prior_label_mask(labels, 0.6)[0, 1]


def test_a_label_hears_only_its_prior_neighbours():
    torch.manual_seed(0)
    layer = LabelGraphLayer(dim=8, heads=2, feedforward=16, dropout=0.0).eval()
    mask = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    nodes = torch.randn(2, 3, 8)
    out = layer.label_messages(nodes, mask)
    changed = nodes.clone()
    changed[:, 0] += torch.randn(8)  # label 0 moves: labels 0 and 1 hear it, label 2 does not
    after = layer.label_messages(changed, mask)
    assert torch.allclose(after[:, 2], out[:, 2], atol=1e-6)
    assert not torch.allclose(after[:, 1], out[:, 1])


def test_fusion_weighs_present_modalities_per_label():
    torch.manual_seed(0)
    fusion = ModalityFusion(["text", "audio"], dim=8, hidden=4)
    nodes = {"text": torch.randn(2, 3, 8), "audio": torch.randn(2, 3, 8)}
    present = {"text": torch.tensor([True, True]), "audio": torch.tensor([True, False])}
    fused, weights = fusion(nodes, present)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    assert (weights[1, :, 1] == 0).all() and (weights[0] > 0).all()
    assert not torch.allclose(weights[0, 0], weights[0, 1])  # per-label weights


def test_padding_batch_mates_and_missing_modalities():
    model = _model(mask=torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.bool))
    lengths = {"text": [4, 2, 3], "audio": [10, 3, 0], "vision": [4, 0, 2]}
    features, masks = random_masked_inputs(DIMS, lengths, {"text": 5, "audio": 12, "vision": 4})
    logits, weights = model(features, masks, return_weights=True)
    assert torch.isfinite(logits).all() and (weights[2, :, 1] == 0).all()
    garbage = {m: x.clone() for m, x in features.items()}
    for m in DIMS:
        garbage[m][~masks[m]] = 40.0
    assert torch.allclose(logits, model(garbage, masks), atol=1e-5)
    longer = {m: torch.nn.functional.pad(x, (0, 0, 0, 3)) for m, x in features.items()}  # more padded steps
    longer_masks = {m: torch.nn.functional.pad(k, (0, 3)) for m, k in masks.items()}
    assert torch.allclose(logits, model(longer, longer_masks), atol=1e-5)
    for i in range(3):
        alone = model({m: x[i:i + 1] for m, x in features.items()}, {m: k[i:i + 1] for m, k in masks.items()})
        assert torch.allclose(alone, logits[i:i + 1], atol=1e-5)
    for m in DIMS:
        changed = dict(features)
        changed[m] = features[m] + torch.randn_like(features[m]) * masks[m][..., None]
        assert not torch.allclose(model(changed, masks)[0], logits[0]), f"{m} does not reach the output"
    model.train()
    loss = model(features, masks).sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_hhmpn_paper_defaults_and_the_prior_from_training_labels():
    method = mmerbench.make_method("hhmpn")
    assert (method.dim, method.feedforward, method.encoder_layers, method.graph_layers, method.heads,
            method.dropout, method.lr, method.epochs) == (512, 512, 3, 3, 8, 0.2, 1e-5, 50)
    assert set(type(method).presets) == {"paper", "reference-code", "cpu"}
    data = make_learnable_dataset(n_train=16, n_valid=4, n_test=4)
    small = mmerbench.make_method("hhmpn", **type(method).test_params).fit(data.train, data.valid)
    expected = prior_label_mask(data.train.labels)
    assert torch.equal(small.model_.label_mask.cpu(), expected)


def test_hhmpn_learns_a_small_synthetic_set_better_than_the_prior():
    data = make_learnable_dataset(seed=0)
    prior = mmerbench.make_method("prior").fit(data.train, data.valid)
    method = mmerbench.make_method("hhmpn", dim=16, heads=2, encoder_layers=1, graph_layers=1, feedforward=32,
                                   dropout=0.0, epochs=6, batch_size=16, lr=3e-3, random_state=0)
    method.fit(data.train, data.valid)
    prior_f1 = mmerbench.score(data.test.labels, prior.predict(data.test))["mif1"]
    method_f1 = mmerbench.score(data.test.labels, method.predict(data.test))["mif1"]
    assert method_f1 >= prior_f1 + 0.05, f"HHMPN test miF1 {method_f1:.3f} vs prior {prior_f1:.3f}"


def test_reference_code_label_attention_lets_no_label_hear_another_before_fusion():
    """As released: no label-to-label sublayer, so a label's node before the fusion depends on its own
    embedding only; with the paper's message passing, moving one label's embedding moves the others."""
    features, masks = random_masked_inputs(DIMS, {"text": [4, 3], "audio": [6, 5], "vision": [2, 4]},
                                           {"text": 4, "audio": 6, "vision": 4})

    def label_nodes(model, embeddings):
        encoded = model.encode(features, masks)
        x = embeddings.unsqueeze(0).expand(2, -1, -1)
        for layer in model.graph["text"]:
            x = layer(x, model.label_mask, encoded["text"], masks["text"])
        return x

    for label_attention, others_move in ((False, False), (True, True)):
        model = _model(label_attention=label_attention)
        assert any(n.startswith("graph.text.0.label_qkv") for n, _ in model.named_parameters()) is label_attention
        with torch.no_grad():
            before = label_nodes(model, model.label_nodes)
            moved = model.label_nodes.clone()
            moved[0] += torch.randn(8)  # not a constant: the pre-norm would remove that
            after = label_nodes(model, moved)
        assert not torch.allclose(after[:, 0], before[:, 0])
        assert (not torch.allclose(after[:, 1:], before[:, 1:], atol=1e-6)) is others_move


def test_label_attention_is_a_named_parameter_with_a_reference_code_preset():
    from mmerbench.errors import UsageError
    from mmerbench.testing.fixtures import make_tiny_dataset

    method = mmerbench.make_method("hhmpn")
    assert method.label_attention == "paper"
    assert type(method).presets["reference-code"] == {"label_attention": "reference-code"}
    data = make_tiny_dataset(q=3)
    small = dict(dim=8, heads=2, encoder_layers=1, graph_layers=1, feedforward=16, epochs=1, batch_size=16,
                 device="cpu")
    fitted = mmerbench.make_method("hhmpn", **small, label_attention="reference-code").fit(data.train, data.valid)
    assert not any("label_qkv" in name for name, _ in fitted.model_.named_parameters())
    try:
        mmerbench.make_method("hhmpn", **small, label_attention="none").fit(data.train, data.valid)
    except UsageError as error:
        assert "label_attention='none'" in str(error) and "reference-code" in str(error)
    else:
        raise AssertionError("an unknown label_attention was accepted")


def test_fusion_normalises_over_modalities_not_labels():
    torch.manual_seed(0)
    fusion = ModalityFusion(["text", "audio", "vision"], dim=8, hidden=4)
    nodes = {m: torch.randn(2, 5, 8) for m in ("text", "audio", "vision")}
    present = {m: torch.tensor([True, True]) for m in ("text", "audio", "vision")}
    _, weights = fusion(nodes, present)  # (B, q, M)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 5))
    assert not torch.allclose(weights.sum(1), torch.ones(2, 3))  # the released call's axis (labels) is not it
