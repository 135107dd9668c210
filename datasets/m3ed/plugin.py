import mmerbench
from mmerbench.registry import ImporterOption, ImporterSpec

HELP = """\
A sample is a dialogue; its steps are the utterances (text 768, vision 1024, audio 342 per
utterance); its labels are the union of its utterances' emotions over Happy, Neutral, Sad, Disgust,
Anger, Fear, Surprise. Two layouts are read (see chengzju/CARAT utils/m3ed_reader.py):
1. CARAT's feature pickle (e.g. Asent_...-Lsent_cls_robert_wwm_base_chinese4chmed.pkl): a tuple whose
   item 2 maps dialogue id -> list of utterance emotion indices 0..6 (order above), items 3 / 4 / 5
   map dialogue id -> (utterances, D) text / visual / audio arrays, items 7 / 8 / 9 are the train /
   valid / test dialogue ids. Dialogues are cut to --max-steps utterances (CARAT uses 60); labels
   always cover every utterance, as in CARAT.
2. The m3ed_data_60.pt CARAT writes from it: MMS2S layout ('src-text', 'src-visual', 'src-audio',
   'len_list', 'tgt' token lists with ids 4..10 in the order above)."""


@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset(
        "m3ed",
        importer=ImporterSpec(
            "mmerbench_datasets.m3ed.importers:import_m3ed",
            (
                ImporterOption("--source", "CARAT's M3ED pickle, or its m3ed_data_60.pt", required=True,
                               metavar="PATH"),
                ImporterOption("--max-steps", "utterances kept per dialogue (pickle layout; default 60)",
                               dest="max_steps", type=int, default=60),
            ),
            HELP,
        ),
        summary="M3ED (Chinese TV dialogues), dialogue-level multi-label over 7 emotions",
    )
