"""RAVEN adapter: builds :class:`RAVEN` on the text modality and trains it with BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmerbench.training import Batch, TorchMethod
from mmerbench_methods.raven.model import RAVEN, RAVENConfig
from mmerbench_methods.raven.search import SEARCH_SPACES

TEXT = "text"


class RAVENMethod(TorchMethod):
    """Recurrent Attended Variation Embedding Network (Wang et al., 2019); code: victorywys/RAVEN.

    Defaults (preset ``paper``): the paper gives the architecture, the released
    code (``code/consts.py``) the sizes -- nonverbal projection 150, nonverbal
    LSTM 150, word LSTM 300 (one layer, last state), dropout 0.2 on nonverbal
    inputs and on shifted words, shift weight beta 0.2, Adam lr 1e-3, batch 20.
    The code trains 500 epochs on CMU-MOSI (1284 samples, about 32k updates);
    on MOSEI-size data 40 epochs give a similar number of updates, with
    early stopping after 10 epochs without improvement on validation miF1.
    The output is one sigmoid per label with BCE (RAVEN predicted one
    sentiment score). ``gate`` and ``shift_bound`` choose between the paper's
    equations (sigmoid gate; alpha = min(beta |e| / |h|, 1)) and the code's
    (no sigmoid on the gate; h / max(|h|, 1) * beta |e|).

    Input: needs ``text`` (the words); every other modality is a nonverbal
    stream. Aligned data: each word owns its own audio/vision frame.
    Unaligned data: each word owns an even share of the sample's frames
    (``methods/_blocks/word_spans.py``) -- the features carry no word
    timestamps. A sample without text gets the label bias only.
    """

    name = "raven"
    version = "2"  # 2: dropout masks from _blocks.dropout (a new random stream)
    published_threshold = 0.5
    requires = {"modalities": (TEXT,), "sequences": True}
    presets = {
        "paper": {},
        # Smaller widths (64/64/128 instead of 150/150/300), batch 32 and lr 3e-3 for 12 epochs on
        # 2 cores. On `synthetic` (one thread, machine shared with other jobs): test miF1 0.710
        # against the label prior's 0.480, 85 s wall, 14 s CPU.
        "cpu": {"input_dim": 64, "cell_dim": 64, "hidden": 128, "epochs": 12, "batch_size": 32, "lr": 3e-3,
                "patience": 4},
    }
    search_spaces = SEARCH_SPACES  # what `mmerbench tune` may vary (search.py)
    test_params = {"input_dim": 8, "cell_dim": 8, "hidden": 8, "epochs": 2, "batch_size": 16}

    def __init__(self, input_dim: int = 150, cell_dim: int = 150, hidden: int = 300, shift_weight: float = 0.2,
                 dropout: float = 0.2, gate: str = "sigmoid", shift_bound: str = "paper", epochs: int = 40,
                 batch_size: int = 20, lr: float = 1e-3, weight_decay: float = 0.0, patience: int = 10,
                 grad_clip: float = 0.0, device: str = "auto", random_state: int = 0, threshold: str = "valid"):
        self.input_dim = input_dim
        self.cell_dim = cell_dim
        self.hidden = hidden
        self.shift_weight = shift_weight
        self.dropout = dropout
        self.gate = gate
        self.shift_bound = shift_bound
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.device = device
        self.random_state = random_state
        self.threshold = threshold

    def build_model(self, train) -> RAVEN:
        config = RAVENConfig(
            modality_dims=dict(train.modality_dims),
            n_labels=train.n_labels,
            word_modality=TEXT,
            input_dim=int(self.input_dim),
            cell_dim=int(self.cell_dim),
            hidden=int(self.hidden),
            shift_weight=float(self.shift_weight),
            dropout=float(self.dropout),
            gate=str(self.gate),
            shift_bound=str(self.shift_bound),
        )
        steps = train.steps
        self.fit_info_["alignment"] = ("one frame per word" if len(set(steps.values())) == 1
                                       else "uniform frame spans per word")
        return RAVEN(config)

    def training_loss(self, model: RAVEN, batch: Batch, epoch: int):
        loss = F.binary_cross_entropy_with_logits(model(batch.features, batch.masks), batch.labels)
        return loss, {"bce": float(loss.detach())}

    def forward_proba(self, model: RAVEN, batch: Batch) -> torch.Tensor:
        return torch.sigmoid(model(batch.features, batch.masks))
