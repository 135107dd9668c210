"""MulT's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: MulT's released code (yaohungt/Multimodal-Transformer) sets lr 1e-3, embed dropout 0.25 and grad
clip 0.8 for MOSEI; MMSA tunes MulT by random search over a grid of its own. Ours around the code's.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(3e-4, 3e-3),  # code 1e-3
        "dim": Choice([20, 30, 40]),  # preset 30 (5 heads divide each)
        "embed_dropout": Uniform(0.0, 0.4),  # code 0.25
        "residual_dropout": Uniform(0.0, 0.3),  # default 0.1
    },
    "default": {
        "lr": LogUniform(3e-4, 3e-3),
        "embed_dropout": Uniform(0.1, 0.4),
        "attention_dropout": Uniform(0.0, 0.3),  # default 0.1
        "residual_dropout": Uniform(0.0, 0.3),
    },
}
