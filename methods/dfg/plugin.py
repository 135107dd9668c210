import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "dfg",
        "mmerbench_methods.dfg.method:DFGMethod",
        version="2",
        summary="Graph-MFN: dynamic fusion graph over all modality subsets with efficacy gates, gated memory (Zadeh et al., 2018)",
    )
