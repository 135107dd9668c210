import mmerbench
from mmerbench.registry import Alternative, ImporterOption, ImporterSpec, OneOf

TABLE_HELP = """\
Any multi-label table: ARFF (dense or sparse; numeric and {0,1} attributes), CSV with a header row,
or NPZ (arrays X (N, F) and Y (N, q), or one 'data' (N, C) matrix with optional 'columns' names).
Label columns must hold 0/1. Each --view NAME=a:b (positions among the feature columns, i.e. after
the label columns are removed, end exclusive) becomes a modality of length 1; without --view all
feature columns form one view named 'features'. With --source only, a seeded label-stratified test
split (--test-fraction) is carved off. The dataset is then used by its NAME (load_dataset("NAME"),
`mmerbench run --datasets NAME`); a validation split is carved from train at load time."""


@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset(
        "table",
        importer=ImporterSpec(
            "mmerbench_datasets.table.importers:import_table",
            (
                ImporterOption("dataset_name", "the name to store the dataset under", metavar="NAME"),
                ImporterOption("--source", "one table (a test split is carved off)", metavar="FILE"),
                ImporterOption("--train", "training table", metavar="FILE"),
                ImporterOption("--test", "test table", metavar="FILE"),
                ImporterOption("--valid", "validation table (optional)", metavar="FILE"),
                ImporterOption("--label-columns", "label columns: names 'a,b,c', a range 'a:b', or 'last:K'",
                               dest="label_columns", required=True, metavar="SPEC"),
                ImporterOption("--view", "a view NAME=a:b over the feature columns (repeatable)",
                               action="append", metavar="NAME=a:b"),
                ImporterOption("--label-names", "comma-separated names replacing the label columns' names",
                               dest="label_names", metavar="NAMES"),
                ImporterOption("--test-fraction", "with --source: fraction carved off as test (default 0.25)",
                               dest="test_fraction", type=float, default=0.25, metavar="F"),
                ImporterOption("--seed", "with --source: seed of the test split (default 0)", type=int, default=0,
                               metavar="N"),
            ),
            TABLE_HELP,
            (OneOf((Alternative(("--source",), ("--test-fraction", "--seed")),
                    Alternative(("--train", "--test"), ("--valid",)))),),
        ),
        summary="importer for any multi-label table: `mmerbench data import table NAME ...`",
    )
    registry.add_dataset(
        "mulan-emotions",
        importer=ImporterSpec(
            "mmerbench_datasets.table.importers:import_mulan_emotions",
            (ImporterOption("--source", "folder with emotions-train.arff and emotions-test.arff", required=True,
                            metavar="FOLDER"),),
            "MULAN 'emotions' (Trohidis et al., ISMIR 2008): 593 music clips, 391 train / 202 test, 6 labels;\n"
            "views timbre (columns 0:64) and rhythm (64:72).",
        ),
        summary="MULAN emotions: music, 2 views (timbre 64, rhythm 8), 6 emotions, 391/202",
    )
