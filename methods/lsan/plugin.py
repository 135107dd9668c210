import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "lsan",
        "mmerbench_methods.lsan.method:LSANMethod",
        version="2",
        summary="LSAN (Xiao 2019): text BiLSTM, label-specific self-attention and label attention with adaptive fusion",
    )
