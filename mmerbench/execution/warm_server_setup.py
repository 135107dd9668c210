"""Imported by the warm server last, after its other preloads: prepares what every job it forks inherits.

Only the server imports this module (it is the last name of its preload list, see
:mod:`~mmerbench.execution.warm_pool`); the work is :func:`mmerbench.execution.warm_state.prepare`.
"""

from mmerbench.execution.warm_state import prepare

prepare()
