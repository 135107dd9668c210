import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "lsgmer",
        "mmerbench_methods.lsgmer.method:LSGMERMethod",
        version="3",
        summary="LSGMER: label embeddings attend to audio and text, gated enhancement, APC consistency (Shao et al., 2025)",
    )
