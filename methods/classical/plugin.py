import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "br",
        "mmerbench_methods.classical.method:BinaryRelevance",
        version="1",
        summary="Binary relevance: one classifier per label on pooled features (logistic regression by default)",
    )
    registry.add_method(
        "lp",
        "mmerbench_methods.classical.method:LabelPowerset",
        version="1",
        summary="Label powerset: one multiclass classifier over the label sets seen in training",
    )
    registry.add_method(
        "cc",
        "mmerbench_methods.classical.method:ClassifierChains",
        version="1",
        summary="Classifier chains (scikit-learn ClassifierChain; ensembles of chains optional)",
    )
