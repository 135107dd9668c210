import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "raven",
        "mmerbench_methods.raven.method:RAVENMethod",
        version="2",
        summary="RAVEN: nonverbal sub-networks shift each word by a gated, norm-bounded vector (Wang et al., 2019)",
    )
