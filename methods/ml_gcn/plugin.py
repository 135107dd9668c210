import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "ml-gcn",
        "mmerbench_methods.ml_gcn.method:MLGCNMethod",
        version="4",
        summary="ML-GCN (Chen 2019): GCN over a training-label co-occurrence graph yields per-label classifiers",
    )
