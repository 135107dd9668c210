"""SGM adapter: text-only sequence generation of label sets.

Probabilities (SGM decodes a set, it has no per-label score of its own). With
greedy decoding, let p_j be label j's highest softmax probability over the
decoding steps up to and including the step that emitted EOS, and e_j = 1 when
the decoded set contains j. Then

    predict_proba[:, j] = 0.5 * e_j + 0.5 * p_j

so a decoded label scores in (0.5, 1] and any other label in [0, 0.5]. At the
threshold 0.5 (SGM's published decision, and the one used to pick the best
epoch) ``predict`` returns exactly the decoded set; a lower threshold adds the
labels the decoder found most likely without emitting them, a higher one
keeps only the emitted labels it was most sure of. The released code decodes
with beam size 1 (its config.yaml); the paper reports beam size 5. We decode
greedily.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from mmerbench.data import Split
from mmerbench.training import TorchMethod

from mmerbench_methods._blocks.label_sequences import frequency_order, label_sequences, set_probabilities
from mmerbench_methods.sgm.model import SGM, SGMConfig
from mmerbench_methods.sgm.search import SEARCH_SPACES

TEXT = "text"


class SGMMethod(TorchMethod):
    """SGM (Yang et al., COLING 2018) on the text modality; decoding and probabilities above.

    Provenance (defaults = preset ``paper``):
    - paper: embeddings 512, 2-layer BiLSTM encoder (256 per direction), 2-layer
      LSTM decoder 512, Adam lr 1e-3, batch 64, dropout 0.5, gradient clipping
      10, global embedding on;
    - where the released code differs, the paper is followed, on purpose: the
      code's decoder softmax temperature 0.1 is not used (temperature 1), and
      its decoder input is [e; g(y)] where the paper feeds g(y) alone;
    - ours: ``epochs=20`` with early stopping (``patience=5``) on validation
      miF1; greedy decoding (the released config's beam size 1; the paper's 5).
    """

    name = "sgm"
    version = "2"  # 2: dropout masks from _blocks.dropout (a new random stream)
    requires = {"modalities": (TEXT,)}
    published_threshold = 0.5
    presets = {
        "paper": {},
        "cpu": {"embedding_dim": 128, "encoder_hidden": 64, "encoder_layers": 1, "decoder_hidden": 128,
                "decoder_layers": 1, "attention_dim": 128, "epochs": 10},
    }
    search_spaces = SEARCH_SPACES  # what `mmerbench tune` may vary (search.py)
    test_params = {"embedding_dim": 8, "encoder_hidden": 8, "encoder_layers": 1, "decoder_hidden": 8,
                   "decoder_layers": 1, "attention_dim": 8, "epochs": 2, "batch_size": 16}

    def __init__(self, embedding_dim: int = 512, encoder_hidden: int = 256, encoder_layers: int = 2,
                 decoder_hidden: int = 512, decoder_layers: int = 2, attention_dim: int = 512,
                 dropout: float = 0.5, global_embedding: bool = True,
                 epochs: int = 20, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 patience: int = 5, grad_clip: float = 10.0, device: str = "auto", random_state: int = 0,
                 threshold: str = "valid"):
        self.embedding_dim = embedding_dim
        self.encoder_hidden = encoder_hidden
        self.encoder_layers = encoder_layers
        self.decoder_hidden = decoder_hidden
        self.decoder_layers = decoder_layers
        self.attention_dim = attention_dim
        self.dropout = dropout
        self.global_embedding = global_embedding
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.device = device
        self.random_state = random_state
        self.threshold = threshold

    def build_model(self, train: Split) -> SGM:
        # The paper orders each label sequence by label frequency in training, most frequent first
        # (ties by label index), so the decoder learns one canonical order.
        self.label_order_ = frequency_order(train.labels)
        config = SGMConfig(
            input_dim=int(train.modality_dims[TEXT]), n_labels=int(train.n_labels),
            embedding_dim=int(self.embedding_dim), encoder_hidden=int(self.encoder_hidden),
            encoder_layers=int(self.encoder_layers), decoder_hidden=int(self.decoder_hidden),
            decoder_layers=int(self.decoder_layers), attention_dim=int(self.attention_dim),
            dropout=float(self.dropout), global_embedding=bool(self.global_embedding),
        )
        return SGM(config)

    def extra_state(self):
        # The training-frequency order of labels: build_model derives it from training labels, which a
        # loaded model does not have (a resumed fit needs it to order label sequences the same way).
        return {"label_order": self.label_order_}

    def set_extra_state(self, state):
        self.label_order_ = np.asarray(state["label_order"], dtype=np.int64)

    def label_sequences(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, q) multi-hot -> (B, max_set + 1) label ids in frequency order, EOS, then -100 padding."""
        return label_sequences(labels, self.label_order_)

    def training_loss(self, model: SGM, batch, epoch: int):
        targets = self.label_sequences(batch.labels)
        logits = model(batch.features[TEXT], batch.masks[TEXT], targets)  # (B, S, q + 1)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        return loss, {"sequence_ce": float(loss.detach())}

    def forward_proba(self, model: SGM, batch) -> torch.Tensor:
        emitted, best = model.decode(batch.features[TEXT], batch.masks[TEXT])
        return set_probabilities(emitted, best)
