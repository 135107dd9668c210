"""SGM's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: Yang et al. 2018 give lr 1e-3 and dropout 0.5 (code lancopku/SGM), no ranges; ours.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(3e-4, 3e-3),  # default 1e-3
        "encoder_hidden": Choice([32, 64, 128]),  # preset 64
        "dropout": Uniform(0.1, 0.5),  # paper 0.5
    },
    "default": {
        "lr": LogUniform(3e-4, 3e-3),
        "dropout": Uniform(0.2, 0.5),
    },
}
