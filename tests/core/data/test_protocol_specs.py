"""``--protocol`` specs: every documented form parses to what it says, a bad one names what is wrong."""

from __future__ import annotations

import pytest

from mmerbench.data.protocol_specs import PROTOCOL_HELP, ProtocolSpec, parse_protocol
from mmerbench.errors import UsageError


def test_the_forms_of_version_1_parse_as_before():
    assert parse_protocol("missing") == ProtocolSpec("missing", (), "missing")
    assert parse_protocol(" missing-rate:0.1,0.3 ") == ProtocolSpec("missing-rate", (0.1, 0.3), "missing-rate:0.1,0.3")
    assert parse_protocol("noise:0.5,1") == ProtocolSpec("noise", (0.5, 1.0), "noise:0.5,1")


def test_per_modality_rates_keep_the_written_order_and_text():
    spec = parse_protocol("missing-rate:text=0.5,audio=0.1,vision=0.3")
    assert spec.name == "missing-rate" and spec.values == ()
    assert spec.rates == (("text", 0.5), ("audio", 0.1), ("vision", 0.3))
    assert spec.text == "missing-rate:text=0.5,audio=0.1,vision=0.3" and spec.pattern_seeds == 1
    assert parse_protocol("missing-rate:text=0,audio=0.2").rates == (("text", 0.0), ("audio", 0.2))


def test_a_modality_absent_from_the_whole_split():
    assert parse_protocol("missing-modality:text").absent == ("text",)
    assert parse_protocol("missing-modality:text,audio").absent == ("text", "audio")


def test_pattern_seeds_follow_either_missing_rate_form():
    assert parse_protocol("missing-rate:0.3@seeds=10").pattern_seeds == 10
    assert parse_protocol("missing-rate:0.3@seeds=10").values == (0.3,)
    spec = parse_protocol("missing-rate:text=0.5,audio=0.1@seeds=3")
    assert spec.rates == (("text", 0.5), ("audio", 0.1)) and spec.pattern_seeds == 3


@pytest.mark.parametrize("spec, why", [
    ("mising", "is not valid"),
    ("missing-rate", "is not valid"),
    ("missing-rate:1.5", "must be between 0 and 1"),
    ("missing-rate:0", "must be between 0 and 1"),
    ("noise:-1", "must be above 0"),
    ("noise:abc", "is not a number"),
    ("missing:0.3", "is not valid"),
    ("missing-rate:text=1", "must be in \\[0, 1\\).*missing-modality:text"),
    ("missing-rate:text=0.5,0.3", "mixes a plain rate"),
    ("missing-rate:text=0.5,text=0.2", "given twice"),
    ("missing-rate:text=0,audio=0", "nothing would be dropped"),
    ("missing-rate:te xt=0.5", "not a modality name"),
    ("missing-rate:0.3@seeds=0", "between 1 and"),
    ("missing-rate:0.3@seeds=two", "not a whole number"),
    ("missing-rate:0.3@patterns=2", "only suffix is @seeds=K"),
    ("noise:1@seeds=3", "applies to missing-rate only"),
    ("missing-modality:", "is not valid"),
    ("missing-modality:text,text", "named twice"),
])
def test_bad_protocol_specs_are_refused_with_what_is_wrong_and_the_valid_forms(spec, why):
    with pytest.raises(UsageError, match=why) as caught:
        parse_protocol(spec)
    assert PROTOCOL_HELP in str(caught.value) and repr(spec.strip()) in str(caught.value)
