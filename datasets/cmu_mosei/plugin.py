import mmerbench
from mmerbench.registry import ImporterOption, ImporterSpec

SOURCE_PT = ImporterOption("--source", "train_valid_test.pt (MMS2S / CARAT layout)", required=True, metavar="PATH")

MMS2S_HELP = """\
Layout (MMS2S's train_valid_test.pt, also read by CARAT, TAILOR and LDDU): a torch.save dict
{'train', 'valid', 'test', 'dict', 'settings'}; each split is a dict with
  'src-text'   (N, 60, 300) GloVe      -> modality text
  'src-audio'  (N, 60, 74)  COVAREP    -> modality audio (-inf values are zeroed)
  'src-visual' (N, 60, 35)  Facet      -> modality vision
  'tgt'        N token lists [2, e.., 3]; ids 4..9 = happy, sad, anger, surprise, disgust, fear
Arrays may be numpy arrays, tensors or lists of (T, D) arrays; 'settings' may be an
argparse.Namespace. Zip and legacy torch formats are read without torch.load and without
running code from the file (restricted unpickler). Expected sizes 16326 / 1871 / 4659."""

MULT_HELP = """\
Layout: MulT's mosei_senti_data_noalign.pkl, a pickle {'train', 'valid', 'test'}; each split a dict
  'text' (N, 50, 300), 'audio' (N, 500, 74), 'vision' (N, 500, 35), 'labels' (N, 1, 1) sentiment,
  optional 'id' (N, 3) [video, start, end].
It has no emotion labels: they come from the aligned train_valid_test.pt (--labels-from), whose
splits list the same samples in the same order; counts must agree (and ids, where both have them).
Sentiment is kept as meta['sentiment']. Large arrays are memory-mapped from the pickle when it
stores them as raw bytes (protocol 3+), so the import needs little memory."""

MMSA_HELP = """\
Layout: MMSA's {name}.pkl, a pickle {{'train', 'valid', 'test'}}; each split a dict with
  'text' (N, 50, 768) BERT, 'audio' (N, T, 74) COVAREP, 'vision' (N, T, 35) Facet,
  optional 'audio_lengths' / 'vision_lengths' (N,), 'text_bert' (N, 3, 50) (row 1 = mask, gives text
  lengths), 'regression_labels' (N,) sentiment (kept as meta['sentiment']), 'id' (N,),
  and 'tgt': N token lists [2, e.., 3] (ids 4..9 = happy, sad, anger, surprise, disgust, fear),
  injected per split as in the LDDU repository (dataset/data_process.py). Without 'tgt' in the pickle,
  pass LDDU's mmsa.csv (columns mode, tgt) with --tgt-csv. {steps}"""


@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset(
        "cmu-mosei",
        importer=ImporterSpec("mmerbench_datasets.cmu_mosei.importers:import_mms2s", (SOURCE_PT,), MMS2S_HELP),
        summary="CMU-MOSEI aligned (MMS2S split, 60 steps, GloVe/COVAREP/Facet), 6 emotions",
    )
    registry.add_dataset(
        "cmu-mosei-unaligned",
        importer=ImporterSpec(
            "mmerbench_datasets.cmu_mosei.importers:import_mult_unaligned",
            (
                ImporterOption("--source", "MulT's mosei_senti_data_noalign.pkl", required=True, metavar="PATH"),
                ImporterOption("--labels-from", "the aligned train_valid_test.pt whose 'tgt' lists give the emotions",
                               dest="labels_from", required=True, metavar="PATH"),
            ),
            MULT_HELP,
        ),
        summary="CMU-MOSEI unaligned (MulT features: text 50, audio/vision 500 steps), 6 emotions",
    )
    for name, file, steps in (
        ("cmu-mosei-mmsa", "aligned_50", "All modalities have 50 steps."),
        ("cmu-mosei-mmsa-unaligned", "unaligned_50", "Steps: text 50, audio 500, vision 375."),
    ):
        registry.add_dataset(
            name,
            importer=ImporterSpec(
                "mmerbench_datasets.cmu_mosei.importers:import_mmsa",
                (
                    ImporterOption("--source", f"MMSA {file}.pkl with a 'tgt' list per split", required=True,
                                   metavar="PATH"),
                    ImporterOption("--tgt-csv", "LDDU's mmsa.csv (columns mode, tgt) when the pickle has no 'tgt'",
                                   dest="tgt_csv", metavar="PATH"),
                ),
                MMSA_HELP.format(name=file, steps=steps),
            ),
            summary=f"CMU-MOSEI, MMSA {file} features (BERT text), 6 emotions (LDDU's setup)",
        )
