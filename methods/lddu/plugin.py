import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "lddu",
        "mmerbench_methods.lddu.method:LDDU",
        version="5",
        summary="LDDU: latent emotion distributions (mu, sigma) with contrastive disentangling and "
                "uncertainty-aware fusion (Huang et al., ACL Findings 2025)",
    )
