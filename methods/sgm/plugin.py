import mmerbench


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method(
        "sgm",
        "mmerbench_methods.sgm.method:SGMMethod",
        version="2",
        summary="SGM (Yang 2018): text BiLSTM, LSTM decoder emitting the label set with masking and global embedding",
    )
