"""TAILOR's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: TAILOR's released code (kniter1/TAILOR) sets lr 5e-5, dropout 0.3 and the loss weights by hand; no
range is published, so ours around the preset and the code.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(3e-4, 3e-3),  # preset 1e-3
        "hidden": Choice([32, 64, 128]),  # preset 64 (4 heads)
        "dropout": Uniform(0.0, 0.3),  # preset 0.1, code 0.3
        "common_weight": LogUniform(0.1, 1.0),  # code 0.5
    },
    "default": {
        "lr": LogUniform(2e-5, 2e-4),  # code 5e-5
        "dropout": Uniform(0.1, 0.5),
        "common_weight": LogUniform(0.1, 1.0),
    },
}
