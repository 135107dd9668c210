"""Plugin sources: which distribution provided a method or dataset, and a hash of its code."""

from __future__ import annotations

from mmerbench.plugin_sources import describe, source_hash, spec_source
from mmerbench.registry import DatasetSpec, MethodSpec


def test_a_built_in_method_names_its_distribution_and_hashes_its_folder():
    source = spec_source(MethodSpec("br", "mmerbench_methods.classical.method:BinaryRelevance", "1",
                                    origin="mmerbench_methods.classical.plugin"))
    assert source["distribution"] == "mmerbench" and source["module"] == "mmerbench_methods.classical.method"
    assert len(source["source_sha256"]) == 16
    assert describe(source).startswith("mmerbench ")


def test_the_hash_changes_with_any_file_of_the_plugin(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    files = sorted(tmp_path.glob("*.py"))
    before = source_hash(files, tmp_path)
    (tmp_path / "b.py").write_text("y = 3\n")
    assert source_hash(files, tmp_path) != before
    (tmp_path / "b.py").write_text("y = 2\n")
    assert source_hash(files, tmp_path) == before


def test_an_imported_table_has_no_code_to_record():
    source = spec_source(DatasetSpec("mine", loader=None, origin="imported file"))
    assert source["module"] is None and source["distribution"] is None
    assert "no installed distribution" in describe(source)
