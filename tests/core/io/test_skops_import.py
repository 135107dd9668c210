"""skops imported without torch keeps exactly the trust list it builds when torch comes along (issue 24)."""

from __future__ import annotations

import json
import subprocess
import sys

TRUST_LISTS = """
import json, sys
{importer}
from skops.io import _trusted_types as trusted
lists = {{name: sorted(map(str, getattr(trusted, name))) for name in dir(trusted)
         if name.isupper() and isinstance(getattr(trusted, name), list)}}
print(json.dumps({{"torch": "torch" in sys.modules, "lists": lists}}))
"""


def _trust_lists(importer: str) -> dict:
    out = subprocess.run([sys.executable, "-c", TRUST_LISTS.format(importer=importer)], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_skops_imported_without_torch_trusts_the_same_types():
    plain = _trust_lists("import skops.io")
    lean = _trust_lists("from mmerbench.io.skops_import import skops_io; skops_io()")
    assert plain["torch"] and not lean["torch"]  # the walk imports torch; the lean import does not
    assert lean["lists"]["SKLEARN_ESTIMATOR_TYPE_NAMES"]  # a real list, not an empty one on both sides
    assert lean["lists"] == plain["lists"]


def test_the_adapter_imports_as_usual_after_skops():
    code = ("from mmerbench.io.skops_import import skops_io; skops_io()\n"
            "import sklearn.externals.array_api_compat.torch as adapter, sys\n"
            "print('torch' in sys.modules and adapter.__name__)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "sklearn.externals.array_api_compat.torch"
