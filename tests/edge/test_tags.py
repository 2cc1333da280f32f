"""edge.tags: request tags from the x-edge-tags header, the body's metadata and the key."""

from __future__ import annotations

import pytest

from edge.errors import InvalidRequest
from edge.tags import HEADER, MAX_TAGS, request_tags


def test_header_pairs_are_parsed_and_trimmed() -> None:
    assert request_tags(" feature=search , customer = acme,,", None, None) == {"feature": "search", "customer": "acme"}
    assert request_tags("a.b_c-d=x=y", None, None) == {"a.b_c-d": "x=y"}  # the first '=' splits


def test_nothing_gives_none() -> None:
    assert request_tags(None, None, None) is None
    assert request_tags("", {}, {}) is None
    assert request_tags(" , ", None, None) is None


@pytest.mark.parametrize(
    "header",
    ["no-equals-sign", "=value", "name=", "my tag=x", "caf\u00e9=x", "n" * 65 + "=x", "n=" + "v" * 257, "ok=1,bad"],
)
def test_malformed_header_parts_are_a_400_naming_the_part(header: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        request_tags(header, None, None)
    err = info.value
    assert err.status == 400 and err.param == HEADER
    bad = header.split(",")[-1].strip()
    assert bad[:80] in err.message


def test_the_longest_name_and_value_are_accepted() -> None:
    name, value = "n" * 64, "v" * 256
    assert request_tags(f"{name}={value}", None, None) == {name: value}


def test_metadata_adds_tags_but_never_overrides_the_header() -> None:
    metadata = {"workflow": "nightly", "feature": "from-metadata", "count": 3, "bad name": "x", "long": "v" * 513, "ok": "v" * 512}
    assert request_tags("feature=search", metadata, None) == {"feature": "search", "workflow": "nightly", "ok": "v" * 512}
    assert request_tags(None, ["not", "a", "dict"], None) is None


def test_the_keys_own_tags_win_on_a_clash() -> None:
    tags = request_tags("customer=spoofed,feature=search", {"team": "spoofed-too"}, {"customer": "acme", "team": "search"})
    assert tags == {"customer": "acme", "feature": "search", "team": "search"}


def test_at_most_sixteen_tags_from_all_sources_together() -> None:
    header = ",".join(f"h{i}=v" for i in range(10))
    metadata = {f"m{i}": "v" for i in range(5)}
    assert len(request_tags(header, metadata, {"k": "v"}) or {}) == MAX_TAGS == 16
    with pytest.raises(InvalidRequest, match="At most 16 tags") as info:
        request_tags(header, metadata, {"k": "v", "k2": "v"})
    assert info.value.param == HEADER
