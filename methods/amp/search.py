"""AMP's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: the paper gives no tuning ranges; the paper's lr is 5e-5 with warm-up.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(3e-4, 3e-3),  # preset 1e-3
        "dim": Choice([32, 64, 128]),  # preset 64 (4 heads divide each)
        "dropout": Uniform(0.0, 0.3),
        "mask_fraction": Uniform(0.3, 0.6),  # paper 0.48
        "masked_weight": LogUniform(0.03, 0.3),  # paper 0.1
    },
    "default": {
        "lr": LogUniform(2e-5, 2e-4),  # paper 5e-5
        "dropout": Uniform(0.0, 0.3),  # paper 0.1
        "mask_fraction": Uniform(0.3, 0.6),
        "masked_weight": LogUniform(0.03, 0.3),
    },
}
