"""Plugins only the test suite registers (tiny datasets, failing, sleepy, dying and collapsing methods).

They live under tests/, not in the installed package. tests/conftest.py puts tests/plugins on
``sys.path`` and ``PYTHONPATH`` so that worker processes (spawned locally, Ray's, submitit's) import
them by name through ``MMERBENCH_PLUGINS=mmerbench_test_plugins.plugin``.
"""
