import mmerbench
from mmerbench.registry import ImporterOption, ImporterSpec

IEMOCAP_HELP = """\
Layout: IEMOCAP_features.pkl of declare-lab/conv-emotion (DialogueRNN) and MMGCN, a pickle
(Python 2 era, latin-1) of 9 items: videoIDs, videoSpeakers, videoLabels, videoText, videoAudio,
videoVisual, videoSentence, trainVid, testVid. Each video* item maps a dialogue id to a list over its
utterances (labels 0..5 = happy, sad, neutral, angry, excited, frustrated; text 100, audio 100,
visual 512 vectors). One sample per utterance (id 'dialogue/utterance'), each modality one step.
Single-label; no validation split (carved from train at load time, valid_fraction). %s"""

MELD_HELP = """\
Layout: MELD_features_raw.pkl of declare-lab/conv-emotion, a pickle of 9 items: videoIDs,
videoSpeakers, videoLabels (emotion 0..6 = neutral, surprise, fear, sadness, joy, disgust, anger),
videoText, videoAudio, videoSentence, trainVid, testVid, sentiment labels (no visual); or MMGCN's
10-item variant with videoVisual after videoAudio. One sample per utterance, each modality one step.
Single-label; no validation split (carved from train at load time, valid_fraction)."""

SOURCE = ImporterOption("--source", "the feature pickle", required=True, metavar="PATH")


@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset(
        "iemocap",
        importer=ImporterSpec("mmerbench_datasets.conversational.importers:import_iemocap", (SOURCE,),
                              IEMOCAP_HELP % "6 classes as stored."),
        summary="IEMOCAP utterances, 6 classes, single-label",
    )
    registry.add_dataset(
        "iemocap-4class",
        importer=ImporterSpec("mmerbench_datasets.conversational.importers:import_iemocap_4class", (SOURCE,),
                              IEMOCAP_HELP % "4-class variant: excited merged into happy, frustrated "
                                             "utterances dropped (happy, sad, neutral, angry)."),
        summary="IEMOCAP utterances, 4 classes (happy+excited, sad, neutral, angry), single-label",
    )
    registry.add_dataset(
        "meld",
        importer=ImporterSpec("mmerbench_datasets.conversational.importers:import_meld", (SOURCE,), MELD_HELP),
        summary="MELD utterances, 7 emotions, single-label",
    )
