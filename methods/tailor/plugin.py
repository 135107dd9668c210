import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "tailor",
        "mmerbench_methods.tailor.method:TAILORMethod",
        version="3",
        summary="TAILOR: adversarial common/private features, granularity-descending fusion, label decoder (Zhang et al., 2022)",
    )
