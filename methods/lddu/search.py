"""LDDU's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: the released code (201983290498/LDDU) sets lr 2e-4, dropout 0.3 and the loss weights (ocl 0.3, scl
1.0, dir 0.3) by hand; the paper's are 0.1 / 0.8 / 0.1. The ranges span both.
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(1e-3, 6e-3),  # preset 3e-3
        "hidden": Choice([32, 64, 128]),  # preset 64 (4 heads)
        "encoder_dropout": Uniform(0.0, 0.3),  # preset 0.1
        "weight_scl": LogUniform(0.03, 1.0),  # preset 0.1, paper 0.8
        "weight_ocl": LogUniform(0.03, 0.3),  # paper 0.1, code 0.3
    },
    "default": {
        "lr": LogUniform(5e-5, 5e-4),  # code 2e-4
        "encoder_dropout": Uniform(0.1, 0.5),  # paper 0.3
        "weight_scl": LogUniform(0.1, 1.0),
        "weight_ocl": LogUniform(0.03, 0.3),
        "weight_dir": LogUniform(0.03, 0.3),  # paper 0.1, code 0.3
    },
}
