import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "amp",
        "mmerbench_methods.amp.method:AMPMethod",
        version="3",
        summary="AMP: adversarial token masking (reversed scorers, soft top-k), weight perturbation with KL, asymmetric loss (Ge et al., 2023)",
    )
