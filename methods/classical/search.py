"""The classical methods' search spaces (``mmerbench tune``): the base learner's regularisation.

With the default logistic-regression learner, C (inverse regularisation strength) is the one number that
matters; scikit-learn's own ``LogisticRegressionCV`` searches ``np.logspace(-4, 4, 10)``, and we search
log-uniformly over the middle of that range. Pooling adds the per-step standard deviation to the mean.
The classical methods have no presets, so their one space is ``default``.
"""

from mmerbench.search_spaces import Choice, LogUniform

_LEARNER = {
    "estimator_params.C": LogUniform(1e-3, 1e2),  # scikit-learn's default 1.0
    "pooling": Choice(["mean", "mean+std"]),
}

BR_SPACES = {"default": dict(_LEARNER)}
LP_SPACES = {"default": dict(_LEARNER)}
CC_SPACES = {"default": {**_LEARNER, "order": Choice(["natural", "random"])}}
