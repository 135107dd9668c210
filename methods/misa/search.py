"""MISA's search spaces (``mmerbench tune``).

The ``cpu`` space varies the 2-core preset (method.py) around its values; the ``default`` space varies
the paper-scale defaults. Epochs stay at the preset's: every trial gets the same training budget, and
pruning (``mmerbench tune --pruner median``) stops hopeless ones early.

Source: MISA's released code (declare-lab/MISA) trains with lr 1e-4, dropout 0.5, diff 0.3, sim 1.0, recon
1.0; MMSA tunes MISA by random search over a grid of its own. The cpu ranges include the preset's 0.03
weights (the paper's weights collapsed the spaces at this size, method.py).
"""

from mmerbench.search_spaces import Choice, LogUniform, Uniform

SEARCH_SPACES = {
    "cpu": {
        "lr": LogUniform(3e-4, 3e-3),  # preset 1e-3
        "hidden": Choice([32, 64, 128]),  # preset 64
        "dropout": Uniform(0.0, 0.5),  # code 0.5
        "diff_weight": LogUniform(0.01, 0.3),  # preset 0.03, code 0.3
        "sim_weight": LogUniform(0.01, 1.0),  # preset 0.03, code 1.0
        "recon_weight": LogUniform(0.01, 1.0),  # preset 0.03, code 1.0
    },
    "default": {
        "lr": LogUniform(3e-5, 1e-3),  # code 1e-4
        "dropout": Uniform(0.1, 0.5),
        "diff_weight": LogUniform(0.03, 0.3),
        "sim_weight": LogUniform(0.1, 1.0),
        "recon_weight": LogUniform(0.1, 1.0),
    },
}
