"""The public contract suite every method plugin must pass (see ``check_method``)."""
