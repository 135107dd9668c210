"""Graph-MFN (Zadeh et al., ACL 2018): MFN's recurrent system with a Dynamic Fusion Graph.

One LSTM cell per modality runs in lock-step over a common time axis. At each
step the Dynamic Fusion Graph (DFG) reads every modality's memory change
[c_(t-1); c_t] as a unimodal vertex, builds a vertex for every subset of two
or more modalities from the vertices of its subsets, and combines all
vertices into tau. Each edge carries an *efficacy* computed from the unimodal
inputs, so the graph decides per step and per sample which interactions
count. tau updates MFN's multi-view gated memory
u_t = gamma1 * u_(t-1) + gamma2 * tanh(u_hat). The last hidden state of each
modality and the final memory predict the labels.

Three choices, each a config field, where mmerbench's first version and the
released code differ (``reference-code`` in the method's presets follows the
code in all three):
- ``vertex_sources``: "one-smaller" -- a vertex reads its subsets one
  modality smaller (the trimodal vertex reads the three bimodal ones);
  "all-subsets" -- every non-empty proper subset, unimodal ones included, as
  the SDK's ``DynamicFusionGraph`` feeds them;
- ``efficacy``: "sigmoid" gates in (0, 1), or "linear" -- the SDK's efficacy
  network output used as is (unbounded, may be negative);
- ``memory_proposal``: "tau-memory" -- u_hat = D_u([tau; u_(t-1)]), or "tau"
  -- u_hat = D_u(tau) as in MFN's code (gamma1 and gamma2 read [tau; u] in
  both).

The recurrence needs one step per modality at every time step:
non-reference modalities are mean-pooled into the reference's steps with
uniform spans (``methods/_blocks/word_spans.py``; on aligned data that is
the identity). A sample without the reference modality gets each other
modality's mean over all its frames as one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import torch
from torch import nn

from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.word_spans import span_index, span_mean


@dataclass
class GraphMFNConfig:
    modality_dims: dict[str, int]
    n_labels: int
    reference: str  # the modality whose steps are the common time axis
    hidden: int = 128  # LSTM cell size per modality
    memory: int = 128  # multi-view gated memory size
    vertex_dim: int = 64  # size of every multimodal DFG vertex and of tau
    efficacy_hidden: int = 64  # hidden layer of the efficacy network
    gate_hidden: int = 64  # hidden layer of the memory networks D_gamma1, D_gamma2, D_u
    output_hidden: int = 64  # hidden layer of the output network
    dropout: float = 0.2
    input_norm: bool = True  # LayerNorm on raw features (ours: raw COVAREP/Facet scales differ widely)
    vertex_sources: str = "one-smaller"  # | "all-subsets" (the released DFG)
    efficacy: str = "sigmoid"  # | "linear" (the released DFG)
    memory_proposal: str = "tau-memory"  # | "tau" (MFN's code)


VERTEX_SOURCES = ("one-smaller", "all-subsets")
EFFICACIES = ("sigmoid", "linear")
MEMORY_PROPOSALS = ("tau-memory", "tau")


def _mlp(inputs: int, hidden: int, outputs: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), Dropout(dropout), nn.Linear(hidden, outputs))


class DynamicFusionGraph(nn.Module):
    """Vertices for every non-empty subset of ``n`` inputs, efficacy-gated edges, and tau.

    forward(list of n tensors (B, d_i)) -> (tau (B, vertex_dim), efficacies (B, n_edges)).
    ``edges`` lists (target, source) pairs in the order of the efficacy columns;
    subsets are tuples of input positions, the target of the last edges is "tau".
    """

    def __init__(self, input_dims: list[int], vertex_dim: int, efficacy_hidden: int, dropout: float,
                 vertex_sources: str = "one-smaller", efficacy: str = "sigmoid"):
        super().__init__()
        if vertex_sources not in VERTEX_SOURCES or efficacy not in EFFICACIES:
            raise ValueError(f"vertex_sources={vertex_sources!r} (use {VERTEX_SOURCES}), "
                             f"efficacy={efficacy!r} (use {EFFICACIES})")
        n = len(input_dims)
        self.input_dims = list(input_dims)
        self.vertex_sources, self.efficacy_kind = vertex_sources, efficacy
        self.subsets = [s for size in range(2, n + 1) for s in combinations(range(n), size)]
        self.edges: list[tuple] = []
        dims = {(i,): d for i, d in enumerate(input_dims)}
        self.vertex = nn.ModuleDict()
        for subset in self.subsets:
            sources = self.sources(subset)
            self.edges += [(subset, source) for source in sources]
            self.vertex[self._key(subset)] = nn.Sequential(
                nn.Linear(sum(dims[s] for s in sources), vertex_dim), nn.ReLU(), Dropout(dropout))
            dims[subset] = vertex_dim
        self.all_vertices = [(i,) for i in range(n)] + self.subsets
        self.edges += [("tau", v) for v in self.all_vertices]
        self.tau = nn.Sequential(nn.Linear(sum(dims[v] for v in self.all_vertices), vertex_dim), nn.ReLU(),
                                 Dropout(dropout))
        self.efficacy = _mlp(sum(input_dims), efficacy_hidden, len(self.edges), dropout)

    def sources(self, subset: tuple) -> list[tuple]:
        """The vertices a subset's vertex reads, smallest first."""
        if self.vertex_sources == "one-smaller":
            return list(combinations(subset, len(subset) - 1))
        return [s for size in range(1, len(subset)) for s in combinations(subset, size)]

    @staticmethod
    def _key(subset: tuple) -> str:
        return "-".join(map(str, subset))

    def forward(self, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        efficacies = self.efficacy(torch.cat(inputs, dim=-1))  # (B, n_edges)
        if self.efficacy_kind == "sigmoid":
            efficacies = torch.sigmoid(efficacies)
        column = {edge: j for j, edge in enumerate(self.edges)}
        values = {(i,): x for i, x in enumerate(inputs)}
        for subset in self.subsets:  # by size, so every source exists before its target
            sources = self.sources(subset)
            gated = [efficacies[:, column[(subset, s)], None] * values[s] for s in sources]
            values[subset] = self.vertex[self._key(subset)](torch.cat(gated, dim=-1))
        gated = [efficacies[:, column[("tau", v)], None] * values[v] for v in self.all_vertices]
        return self.tau(torch.cat(gated, dim=-1)), efficacies


class GatedMemory(nn.Module):
    """MFN's multi-view gated memory: u = gamma1 * u + gamma2 * tanh(u_hat); the gammas read [tau; u],
    the proposal u_hat reads [tau; u] ("tau-memory") or tau alone ("tau", MFN's code)."""

    def __init__(self, tau_dim: int, memory: int, hidden: int, dropout: float, proposal: str = "tau-memory"):
        super().__init__()
        if proposal not in MEMORY_PROPOSALS:
            raise ValueError(f"memory_proposal={proposal!r}: use one of {MEMORY_PROPOSALS}")
        self.proposal_reads_memory = proposal == "tau-memory"
        self.retain = _mlp(tau_dim + memory, hidden, memory, dropout)  # gamma1
        self.update = _mlp(tau_dim + memory, hidden, memory, dropout)  # gamma2
        self.proposal = _mlp(tau_dim + (memory if self.proposal_reads_memory else 0), hidden, memory, dropout)

    def forward(self, tau: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        both = torch.cat([tau, memory], dim=-1)
        proposal = self.proposal(both if self.proposal_reads_memory else tau)  # u_hat
        return (torch.sigmoid(self.retain(both)) * memory
                + torch.sigmoid(self.update(both)) * torch.tanh(proposal))


class GraphMFN(nn.Module):
    def __init__(self, config: GraphMFNConfig):
        super().__init__()
        self.config = config
        self.modalities = list(config.modality_dims)
        if config.reference not in self.modalities:
            raise ValueError(f"reference modality {config.reference!r} is not among {self.modalities}")
        dims = config.modality_dims
        self.norm = nn.ModuleDict({m: nn.LayerNorm(dims[m]) if config.input_norm else nn.Identity()
                                   for m in self.modalities})
        self.cell = nn.ModuleDict({m: nn.LSTMCell(dims[m], config.hidden) for m in self.modalities})
        self.graph = DynamicFusionGraph([2 * config.hidden] * len(self.modalities), config.vertex_dim,
                                        config.efficacy_hidden, config.dropout, config.vertex_sources,
                                        config.efficacy)
        self.memory = GatedMemory(config.vertex_dim, config.memory, config.gate_hidden, config.dropout,
                                  config.memory_proposal)
        self.out = _mlp(config.hidden * len(self.modalities) + config.memory, config.output_hidden,
                        config.n_labels, config.dropout)

    def common_steps(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]):
        """Every modality on the reference's steps: ({m: (B, T, D_m)}, {m: (B, T) bool})."""
        reference_lengths = masks[self.config.reference].sum(dim=1)
        # A sample without the reference modality: one step holding the others' means.
        axis_lengths = torch.where(reference_lengths > 0, reference_lengths, torch.ones_like(reference_lengths))
        steps = max(1, masks[self.config.reference].shape[1])
        pooled, pooled_masks = {}, {}
        for m in self.modalities:
            x = self.norm[m](features[m])
            index, valid = span_index(axis_lengths, masks[m].sum(dim=1), steps)
            pooled[m], pooled_masks[m] = span_mean(x, index, valid)
        return pooled, pooled_masks

    def forward(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                return_efficacies: bool = False):
        """-> logits (B, q) (and efficacies (B, T, n_edges) when asked)."""
        pooled, valid = self.common_steps(features, masks)
        batch, steps = valid[self.config.reference].shape
        x0 = pooled[self.modalities[0]]
        h = {m: x0.new_zeros(batch, self.config.hidden) for m in self.modalities}
        c = {m: x0.new_zeros(batch, self.config.hidden) for m in self.modalities}
        u = x0.new_zeros(batch, self.config.memory)
        trace = []
        for t in range(steps):
            changes = []
            any_valid = torch.zeros(batch, dtype=torch.bool, device=x0.device)
            for m in self.modalities:
                step_valid = valid[m][:, t, None]  # (B, 1): a modality without a frame here keeps its state
                h_new, c_new = self.cell[m](pooled[m][:, t], (h[m], c[m]))
                changes.append(torch.cat([c[m], torch.where(step_valid, c_new, c[m])], dim=-1))
                h[m] = torch.where(step_valid, h_new, h[m])
                c[m] = torch.where(step_valid, c_new, c[m])
                any_valid |= step_valid[:, 0]
            tau, efficacies = self.graph(changes)
            u = torch.where(any_valid[:, None], self.memory(tau, u), u)
            trace.append(efficacies)
        logits = self.out(torch.cat([h[m] for m in self.modalities] + [u], dim=-1))
        if return_efficacies:
            return logits, torch.stack(trace, dim=1)
        return logits
