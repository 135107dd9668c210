import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "mms2s",
        "mmerbench_methods.mms2s.method:MMS2SMethod",
        version="2",
        summary="MMS2S: per-modality Transformers, a label-set decoder with multi-head modality attention (Zhang et al., 2020)",
    )
