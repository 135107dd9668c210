import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "mult",
        "mmerbench_methods.mult.method:MulTMethod",
        version="3",
        summary="MulT: crossmodal Transformers between every pair of modalities (Tsai et al., 2019)",
    )
