import mmerbench

GENERATOR = "mmerbench_datasets.synthetic.generator"


@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset(
        "synthetic",
        loader=f"{GENERATOR}:load_synthetic",
        generated=True,
        summary="Built-in default: small generated MMER data (1500/300/600, aligned, 24 steps, 6 emotions)",
    )
    registry.add_dataset(
        "synthetic-unaligned",
        loader=f"{GENERATOR}:load_synthetic_unaligned",
        generated=True,
        summary="The small default, unaligned: audio and vision at 4 frames per text step",
    )
    registry.add_dataset(
        "synthetic-single",
        loader=f"{GENERATOR}:load_synthetic_single",
        generated=True,
        summary="Single-label, IEMOCAP-like: one of 6 classes per sample, otherwise the small default's story",
    )
    registry.add_dataset(
        "synthetic-uncertain",
        loader=f"{GENERATOR}:load_synthetic_uncertain",
        generated=True,
        summary="The small default where the true per-sample noise drives difficulty (for uncertainty scores)",
    )
    registry.add_dataset(
        "synthetic-mosei",
        loader=f"{GENERATOR}:load_synthetic_mosei",
        generated=True,
        summary="Generated at CMU-MOSEI's size, unaligned: text 50x300, audio 500x74, vision 500x35 (~6.4 GB)",
    )
    registry.add_dataset(
        "synthetic-mosei-aligned",
        loader=f"{GENERATOR}:load_synthetic_mosei_aligned",
        generated=True,
        summary="Generated at CMU-MOSEI's size, aligned: 60 steps, text 300, audio 74, vision 35",
    )
