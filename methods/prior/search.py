"""The label prior's search space (``mmerbench tune``): additive smoothing of the label frequencies.

A baseline gets the same budget as every other method; its one hyperparameter is the smoothing.
"""

from mmerbench.search_spaces import Uniform

SEARCH_SPACES = {"default": {"smoothing": Uniform(0.0, 5.0)}}
