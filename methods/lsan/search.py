"""LSAN's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: the paper (Xiao et al. 2019) gives lr 1e-3 and dropout 0.3, no ranges; ours.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(3e-4, 3e-3),  # default 1e-3
        "hidden": Choice([32, 64, 128]),  # preset 64
        "dropout": Uniform(0.0, 0.5),  # default 0.3
    },
    "default": {
        "lr": LogUniform(3e-4, 3e-3),
        "hidden": Choice([150, 300]),  # paper 300
        "dropout": Uniform(0.1, 0.5),
    },
}
