"""Graph-MFN: DFG vertices for every modality subset with efficacy gates, gated memory, common time axis."""

from __future__ import annotations

import pytest
import torch

import mmerbench
from mmerbench.testing.fixtures import make_learnable_dataset, random_masked_inputs
from mmerbench_methods.dfg.model import DynamicFusionGraph, GatedMemory, GraphMFN, GraphMFNConfig

DIMS = {"text": 6, "audio": 5, "vision": 3}


def _model(**overrides) -> GraphMFN:
    torch.manual_seed(0)
    config = GraphMFNConfig(modality_dims=DIMS, n_labels=4, reference="text", hidden=8, memory=8, vertex_dim=8,
                            efficacy_hidden=8, gate_hidden=8, output_hidden=8, dropout=0.0, **overrides)
    return GraphMFN(config).eval()


def test_the_graph_has_a_vertex_per_subset_and_an_edge_per_subset_relation():
    graph = DynamicFusionGraph([4, 4, 4], vertex_dim=5, efficacy_hidden=6, dropout=0.0)
    assert graph.subsets == [(0, 1), (0, 2), (1, 2), (0, 1, 2)]
    # three bimodal vertices with 2 inputs, the trimodal one with its 3 bimodal inputs, tau with all 7 vertices
    assert len(graph.edges) == 3 * 2 + 3 + 7 == 16
    assert ((0, 1, 2), (0, 1)) in graph.edges and ("tau", (0,)) in graph.edges
    tau, efficacies = graph([torch.randn(2, 4) for _ in range(3)])
    assert tau.shape == (2, 5) and efficacies.shape == (2, 16)
    assert ((efficacies > 0) & (efficacies < 1)).all()


def test_a_zero_efficacy_cuts_its_edge():
    torch.manual_seed(0)
    graph = DynamicFusionGraph([3, 3], vertex_dim=4, efficacy_hidden=4, dropout=0.0).eval()
    inputs = [torch.randn(2, 3), torch.randn(2, 3)]
    moved = [inputs[0], inputs[1] + 5.0 * torch.randn(2, 3)]
    with torch.no_grad():
        graph.efficacy[0].weight[:, 3:] = 0.0  # efficacies computed from input 0 alone
    assert not torch.allclose(graph(inputs)[0], graph(moved)[0], atol=1e-5)  # input 1 matters ...
    with torch.no_grad():  # ... until both of its edges (into the bimodal vertex and into tau) get efficacy 0
        for edge in (("tau", (1,)), ((0, 1), (1,))):
            j = graph.edges.index(edge)
            graph.efficacy[-1].weight[j] = 0.0
            graph.efficacy[-1].bias[j] = -1e4
    tau, efficacies = graph(inputs)
    assert efficacies[:, graph.edges.index(("tau", (1,)))].max() < 1e-6
    assert torch.allclose(tau, graph(moved)[0], atol=1e-5)


def test_gated_memory_keeps_or_replaces_its_content():
    memory = GatedMemory(tau_dim=3, memory=4, hidden=5, dropout=0.0)
    u = torch.randn(2, 4)
    with torch.no_grad():
        for net, bias in ((memory.retain, 1e4), (memory.update, -1e4)):  # gamma1 = 1, gamma2 = 0: keep
            net[-1].weight.zero_()
            net[-1].bias.fill_(bias)
    assert torch.allclose(memory(torch.randn(2, 3), u), u)
    with torch.no_grad():
        memory.retain[-1].bias.fill_(-1e4)  # gamma1 = 0: forget
    assert torch.allclose(memory(torch.randn(2, 3), u), torch.zeros_like(u), atol=1e-6)


def test_unaligned_modalities_are_pooled_onto_the_text_steps():
    model = _model(input_norm=False)
    features, masks = random_masked_inputs(DIMS, {"text": [3, 2], "audio": [12, 4], "vision": [3, 0]},
                                           {"text": 3, "audio": 12, "vision": 3})
    pooled, valid = model.common_steps(features, masks)
    assert pooled["audio"].shape == (2, 3, 5)
    assert torch.allclose(pooled["audio"][0, 1], features["audio"][0, 4:8].mean(0))  # word 1 owns frames 4..7
    assert torch.allclose(pooled["audio"][1, 1], features["audio"][1, 2:4].mean(0))
    assert valid["vision"][1].sum() == 0 and valid["text"][1].tolist() == [True, True, False]


def test_padding_batch_mates_and_missing_modalities():
    model = _model()
    lengths = {"text": [4, 2, 0], "audio": [10, 3, 5], "vision": [4, 0, 2]}
    features, masks = random_masked_inputs(DIMS, lengths, {"text": 5, "audio": 12, "vision": 4})
    logits, efficacies = model(features, masks, return_efficacies=True)
    assert torch.isfinite(logits).all() and efficacies.shape == (3, 5, 16)
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
    for m in DIMS:  # every modality reaches the output of sample 0
        changed = dict(features)
        changed[m] = features[m] + torch.randn_like(features[m]) * masks[m][..., None]
        assert not torch.allclose(model(changed, masks)[0], logits[0])


def test_dfg_presets_and_bad_reference():
    method = mmerbench.make_method("dfg")
    assert set(type(method).presets) == {"paper", "reference-code", "cpu"} and type(method).published_threshold == 0.5
    data = make_learnable_dataset(n_train=8, n_valid=4, n_test=4)
    with pytest.raises(mmerbench.errors.UsageError, match="reference='speech' is not a modality"):
        mmerbench.make_method("dfg", reference="speech", epochs=1).fit(data.train, data.valid)


def test_dfg_learns_a_small_synthetic_set_better_than_the_prior():
    data = make_learnable_dataset(seed=0)
    prior = mmerbench.make_method("prior").fit(data.train, data.valid)
    method = mmerbench.make_method("dfg", hidden=16, memory=16, vertex_dim=8, efficacy_hidden=8, gate_hidden=8,
                                   output_hidden=16, dropout=0.0, epochs=4, batch_size=16, lr=1e-2, random_state=0)
    method.fit(data.train, data.valid)
    prior_f1 = mmerbench.score(data.test.labels, prior.predict(data.test))["mif1"]
    method_f1 = mmerbench.score(data.test.labels, method.predict(data.test))["mif1"]
    assert method_f1 >= prior_f1 + 0.05, f"DFG test miF1 {method_f1:.3f} vs prior {prior_f1:.3f}"


def test_reference_code_graph_feeds_every_proper_subset_with_linear_efficacies():
    """The released DFG: the trimodal vertex reads the three unimodal and the three bimodal vertices,
    and the efficacies are the network's output as is (not squashed into (0, 1))."""
    graph = DynamicFusionGraph([4, 4, 4], vertex_dim=5, efficacy_hidden=6, dropout=0.0,
                               vertex_sources="all-subsets", efficacy="linear")
    trimodal_sources = [source for target, source in graph.edges if target == (0, 1, 2)]
    assert trimodal_sources == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]
    assert len(graph.edges) == 3 * 2 + 6 + 7 == 19
    assert graph.vertex["0-1-2"][0].in_features == 3 * 4 + 3 * 5
    torch.manual_seed(0)
    _, efficacies = graph([10 * torch.randn(8, 4) for _ in range(3)])
    assert (efficacies < 0).any() or (efficacies > 1).any()
    # The default (mmerbench's first version) reads only the bimodal ones.
    one_smaller = DynamicFusionGraph([4, 4, 4], vertex_dim=5, efficacy_hidden=6, dropout=0.0)
    assert [s for t, s in one_smaller.edges if t == (0, 1, 2)] == [(0, 1), (0, 2), (1, 2)]


def test_reference_code_memory_proposal_reads_tau_alone():
    memory = GatedMemory(tau_dim=3, memory=4, hidden=5, dropout=0.0, proposal="tau").eval()
    assert memory.proposal[0].in_features == 3 and memory.retain[0].in_features == 7
    with torch.no_grad():
        for net, bias in ((memory.retain, -1e4), (memory.update, 1e4)):  # gamma1 = 0, gamma2 = 1: u = tanh(u_hat)
            net[-1].weight.zero_()
            net[-1].bias.fill_(bias)
    tau = torch.randn(2, 3)
    assert torch.allclose(memory(tau, torch.randn(2, 4)), memory(tau, torch.randn(2, 4)))  # u_(t-1) is not read
    both = GatedMemory(tau_dim=3, memory=4, hidden=5, dropout=0.0).eval()
    assert both.proposal[0].in_features == 7


def test_reference_code_preset_builds_and_bad_choices_are_refused():
    from mmerbench_methods.dfg.method import DFGMethod

    assert DFGMethod.presets["reference-code"] == {"vertex_sources": "all-subsets", "efficacy": "linear",
                                                   "memory_proposal": "tau"}
    data = make_learnable_dataset(n_train=16, n_valid=4, n_test=4)
    small = {**DFGMethod.test_params, "epochs": 1}
    fitted = mmerbench.make_method("dfg", **small, **DFGMethod.presets["reference-code"]).fit(data.train, data.valid)
    assert fitted.model_.graph.vertex_sources == "all-subsets" and not fitted.model_.memory.proposal_reads_memory
    with pytest.raises(mmerbench.errors.UsageError, match="efficacy='tanh' is not valid"):
        mmerbench.make_method("dfg", **small, efficacy="tanh").fit(data.train, data.valid)
