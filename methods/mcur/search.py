"""MCUR's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: the paper gives lr 1e-4 and the contrastive weight 0.1, no ranges; ours around them and the
preset.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(5e-4, 5e-3),  # preset 2e-3
        "hidden": Choice([32, 64, 128]),  # preset 64 (4 heads)
        "dropout": Uniform(0.0, 0.3),  # default 0.1
        "contrastive_weight": LogUniform(0.01, 1.0),  # paper 0.1
    },
    "default": {
        "lr": LogUniform(3e-5, 3e-4),  # paper 1e-4
        "dropout": Uniform(0.0, 0.3),
        "contrastive_weight": LogUniform(0.01, 1.0),
    },
}
