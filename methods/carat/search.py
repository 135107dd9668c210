"""CARAT's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: CARAT's released code (chengzju/CARAT) fixes lr 5e-5, dropout 0.3 and its loss weights; no search
range is published, so these are ours around the preset and the code's values.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(5e-4, 5e-3),  # preset 2e-3
        "hidden": Choice([32, 64, 128]),  # preset 64 (4 heads)
        "dropout": Uniform(0.0, 0.3),  # preset 0.1, code 0.3
        "label_dropout": Uniform(0.0, 0.3),  # preset 0.1
        "cl_weight": LogUniform(0.1, 1.0),  # code 1.0
        "detach_reconstruction_targets": Choice([True, False]),  # the preset's fix, left to the search
    },
    "default": {
        "lr": LogUniform(2e-5, 2e-4),  # code 5e-5
        "dropout": Uniform(0.1, 0.5),  # code 0.3
        "cl_weight": LogUniform(0.1, 1.0),
        "detach_reconstruction_targets": Choice([True, False]),
    },
}
