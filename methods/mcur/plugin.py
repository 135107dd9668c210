import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "mcur",
        "mmerbench_methods.mcur.method:MCURMethod",
        version="3",
        summary="MCUR: modality-combination views, category+combination contrastive learning, "
                "uncertainty-weighted loss (Zhuang et al., 2026)",
    )
