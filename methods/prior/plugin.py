import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "prior",
        "mmerbench_methods.prior.method:LabelPrior",
        version="1",
        summary="Label frequencies of the training set (a floor every method must beat)",
    )
