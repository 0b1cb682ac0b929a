"""One depth limit for everything stored or forwarded (clarion.protocol.json_limits)."""

import json

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from clarion.protocol import json_limits
from clarion.protocol.json_limits import MAX_JSON_DEPTH, TooDeep, json_depth


def nested(depth: int, kind: str = "object"):
    value = 1
    for _ in range(depth):
        value = {"a": value} if kind == "object" else [value]
    return value


@pytest.mark.parametrize("kind", ["object", "array"])
def test_depth_is_measured_without_recursion_even_far_past_the_interpreter_limit(kind):
    assert json_depth(nested(3, kind)) == 3
    assert json_depth(nested(50_000, kind)) == 50_000
    assert json_depth("text") == 0


@given(st.recursive(st.none() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=30))
def test_loads_refuses_exactly_the_documents_that_nest_too_deep(value):
    text = json.dumps(value)
    for limit in (1, 2, 3, MAX_JSON_DEPTH):
        if json_depth(value) > limit:
            with pytest.raises(TooDeep):
                json_limits.loads(text, limit=limit)
        else:
            assert json_limits.loads(text, limit=limit) == value


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"text": "[" * 100 + "{" * 100})
    assert json_limits.loads(text, limit=2) == {"text": "[" * 100 + "{" * 100}
    assert json_limits.loads('{"a": "\\"[[[["}', limit=1) == {"a": '"[[[['}


def test_a_100000_deep_document_is_refused_before_parsing():
    with pytest.raises(TooDeep):
        json_limits.loads("[" * 100_000 + "]" * 100_000)


@pytest.mark.django_db
def test_the_python_api_refuses_data_nested_too_deep(people):
    from clarion import send_notification_to_user

    with pytest.raises(ValidationError) as refused:
        send_notification_to_user(people["alice"], "deep", data=nested(MAX_JSON_DEPTH + 1))
    assert "deeper than 32" in str(refused.value)
    assert send_notification_to_user(people["alice"], "deep enough", data=nested(MAX_JSON_DEPTH)).pk
