import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "misa",
        "mmerbench_methods.misa.method:MISAMethod",
        version="2",
        summary="MISA: shared and private subspaces with CMD, difference and reconstruction losses (Hazarika et al., 2020)",
    )
