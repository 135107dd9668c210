import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "carat",
        "mmerbench_methods.carat.method:CARATMethod",
        version="3",
        summary="CARAT (Peng 2024): label-wise attention, prototypes, cross-modal reconstruction, shuffle "
                "aggregation, SupCon",
    )
