import mmerbench
from mmerbench.registry import AtLeastOne, ImporterOption, ImporterSpec

HELP = """\
Layout: CMU Multimodal SDK computational sequences (.csd, HDF5): one root group named after the
sequence, with data/<video_id>/features (n, d) and data/<video_id>/intervals (n, 2) in seconds.
Labels: CMU_MOSEI_Labels.csd (root 'All Labels', features (n, 7): sentiment, happy, sad, anger,
surprise, disgust, fear; an emotion is present when its intensity > 0). Each labelled interval is
one sample, id 'video[i]'; videos are split by the standard folds (JSON {"train": [...], "valid":
[...], "test": [...]}, SDK key names standard_train_fold/... also accepted; videos in no fold are
skipped). A modality whose file lacks a video has length 0 (missing) for its segments.
%s
Features: e.g. glove_vectors.csd (--text), COVAREP.csd (--audio), FACET 4.2.csd (--vision)."""

ALIGNED = ("Aligned: the words (text frames, midpoint inside the segment) are the steps (first "
           "--max-steps, default 50); audio and vision are averaged over the frames whose midpoint lies in "
           "each word's interval.")
UNALIGNED = ("Unaligned: each modality keeps its own frames whose midpoint lies in the segment, the first "
             "T of them (--max-steps, default text=50,audio=500,vision=500).")


def _rules(aligned):
    # Aligned: --text is required (the words are the steps), audio and vision optional.
    # Unaligned: any one modality is enough.
    return () if aligned else (AtLeastOne(("--text", "--audio", "--vision")),)


def _options(aligned):
    return (
        ImporterOption("--labels", "CMU_MOSEI_Labels.csd", required=True, metavar="PATH"),
        ImporterOption("--folds", "standard folds by video id (JSON)", required=True, metavar="PATH"),
        ImporterOption("--text", "word-level text features .csd (e.g. glove_vectors.csd)"
                       + ("; the aligned variant's steps are its words" if aligned else ""),
                       required=aligned, metavar="PATH"),
        ImporterOption("--audio", "audio features .csd (e.g. COVAREP.csd)", metavar="PATH"),
        ImporterOption("--vision", "visual features .csd (e.g. FACET 4.2.csd)", metavar="PATH"),
        ImporterOption("--max-steps", "steps kept per modality, e.g. 'text=50,audio=500,vision=500'"
                       + (" (aligned: text's value for all)" if aligned else ""), dest="max_steps"),
        ImporterOption("--label-kind", "emotions (7-column MOSEI labels) or sentiment (one column: "
                       "negative / non-negative, single-label, e.g. MOSI's opinion labels)",
                       dest="label_kind", default="emotions", choices=("emotions", "sentiment")),
    )


@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset(
        "cmu-mosei-sdk-aligned",
        importer=ImporterSpec("mmerbench_datasets.cmu_sdk.importers:import_sdk_aligned", _options(True),
                              HELP % ALIGNED, _rules(True)),
        summary="CMU-MOSEI from the SDK's .csd files, word-aligned, 6 emotions, standard folds",
    )
    registry.add_dataset(
        "cmu-mosei-sdk-unaligned",
        importer=ImporterSpec("mmerbench_datasets.cmu_sdk.importers:import_sdk_unaligned", _options(False),
                              HELP % UNALIGNED, _rules(False)),
        summary="CMU-MOSEI from the SDK's .csd files, unaligned, 6 emotions, standard folds",
    )
