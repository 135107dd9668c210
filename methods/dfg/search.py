"""Graph-MFN (DFG)'s search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: Zadeh et al. 2018 pick hyperparameters by grid search without printing the grid; ours.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(1e-3, 1e-2),  # preset 3e-3
        "hidden": Choice([32, 64, 128]),  # preset 64
        "dropout": Uniform(0.0, 0.4),  # default 0.2
    },
    "default": {
        "lr": LogUniform(3e-4, 3e-3),  # default 1e-3
        "hidden": Choice([64, 128, 256]),
        "dropout": Uniform(0.0, 0.5),
    },
}
