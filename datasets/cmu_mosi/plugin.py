import mmerbench
from mmerbench.registry import ImporterOption, ImporterSpec

HELP = """\
Layout: MMSA's MOSI aligned_50.pkl or unaligned_50.pkl, a pickle {'train', 'valid', 'test'}; each
split a dict with 'text' (N, 50, 768), 'audio' (N, T, 5), 'vision' (N, T, 20), optional
'audio_lengths' / 'vision_lengths', 'text_bert' (N, 3, 50), 'id', and 'regression_labels' (N,)
sentiment in [-3, 3]. Labels: negative (< 0) / non-negative (>= 0), one-hot, single-label (q = 2),
for robustness protocols; the score is kept as meta['sentiment']."""


@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset(
        "cmu-mosi",
        importer=ImporterSpec(
            "mmerbench_datasets.cmu_mosi.importers:import_mosi",
            (ImporterOption("--source", "MMSA MOSI pickle", required=True, metavar="PATH"),),
            HELP,
        ),
        summary="CMU-MOSI (MMSA features), negative / non-negative sentiment, single-label",
    )
