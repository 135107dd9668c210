"""Hook specifications: the reference for mmerbench's hooks.

The plugin-author guide, with the method contract and worked examples of a
deep method and a dataset plugin, is docs/plugins.md in the repository.

A plugin is any module (or object) with functions named like the hooks below,
decorated with ``mmerbench.hookimpl``. Built-in methods and datasets are
registered through exactly these hooks; a third-party package exposes its
plugin module in the ``mmerbench`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.mmerbench]
    my_method = "my_package.plugin"

    # my_package/plugin.py
    import mmerbench

    @mmerbench.hookimpl
    def mmerbench_register_methods(registry):
        registry.add_method(
            "my-method",
            "my_package.method:MyMethod",   # imported only when first used
            version="1",
            summary="What it is, in one line",
        )

Registration must be cheap: pass ``"module:attr"`` strings, never import torch
or scikit-learn in the plugin module itself (``mmerbench list`` imports every
plugin module and must stay well under a second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mmerbench.registry import RegistrationView

PROJECT_NAME = "mmerbench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def mmerbench_register_methods(registry: "RegistrationView") -> None:
    """Add methods to ``registry``.

    Call ``registry.add_method(name, target, *, version, summary="")`` once per
    method:

    - ``name``: the name users type (``mmerbench run --methods NAME``); lower
      case, digits and ``-``. A name registered twice raises, naming both
      plugins.
    - ``target``: ``"package.module:ClassName"``, a subclass of
      :class:`mmerbench.Method` (or of :class:`mmerbench.TorchMethod`). It is
      imported on first use, so a plugin that cannot import its heavy
      dependencies only fails when that method is used.
    - ``version``: the method's result version, equal to the class attribute
      ``version``. Bump both whenever results would change; stored results of
      the old version are then no longer reused.
    - ``summary``: one line for ``mmerbench list``.

    The method class must pass :mod:`mmerbench.testing`'s contract checks::

        from mmerbench.testing import check_method
        check_method(MyMethod)
    """


@hookspec
def mmerbench_register_datasets(registry: "RegistrationView") -> None:
    """Add datasets to ``registry``.

    Call ``registry.add_dataset(name, *, loader=None, importer=None,
    summary="", generated=False)`` once per dataset name:

    - ``loader``: ``"module:function"``; the function takes keyword parameters
      with defaults (they are the dataset's parameters, settable with
      ``--set NAME.param=value``) and returns a :class:`mmerbench.data.Dataset`.
      Leave it ``None`` for a dataset stored by ``mmerbench data import`` in the
      canonical HDF5 form: mmerbench then opens
      ``$MMERBENCH_HOME/data/NAME.h5`` itself.
    - ``importer``: an :class:`mmerbench.registry.ImporterSpec` — a
      ``"module:function"`` that converts the files users bring into the
      canonical form, the command-line options it takes and the rules tying
      them together (``AtLeastOne``, ``OneOf``): the usage line, the help and
      the check are generated from that one declaration. ``mmerbench data
      import NAME`` dispatches to it; the core knows no format.
    - ``generated``: ``True`` when the loader makes the data itself (synthetic
      data), so the dataset is always available.
    """
