"""ML-GCN's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: Chen et al. 2019 fix tau 0.4 and p 0.2 after a sweep of each (their Figure 5: tau 0.3-0.5, p
0.1-0.3 do best); lr and dropout are ours.
"""

from mmerbench.search_spaces import LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(3e-4, 3e-3),  # default 1e-3
        "dropout": Uniform(0.0, 0.3),  # default 0.1
        "tau": Uniform(0.3, 0.5),  # paper 0.4
        "p": Uniform(0.1, 0.3),  # paper 0.2
    },
    "default": {
        "lr": LogUniform(3e-4, 3e-3),
        "dropout": Uniform(0.0, 0.3),
        "tau": Uniform(0.3, 0.5),
        "p": Uniform(0.1, 0.3),
    },
}
