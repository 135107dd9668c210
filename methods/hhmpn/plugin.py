import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "hhmpn",
        "mmerbench_methods.hhmpn.method:HHMPNMethod",
        version="2",
        summary="HHMPN: MulT-style encoders, per-modality label graphs masked by co-occurrence, fusion (Zhang et al., 2021)",
    )
