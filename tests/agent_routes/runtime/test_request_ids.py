"""The one rule for a request's thread id, whichever channel carried it."""

from __future__ import annotations

import pytest

from agent_routes.runtime.request_ids import request_thread_id
from custom_hooks.core.errors import BadRequest


@pytest.mark.parametrize(
    ("md", "optional", "litellm_params", "expected"),
    [
        ({"thread_id": "a"}, {}, {}, "a"),  # chat: body metadata / litellm_metadata merged
        ({"requester_metadata": {"thread_id": "b"}}, {}, {}, "b"),  # /v1/messages, /v1/responses
        ({}, {}, {"litellm_metadata": {"thread_id": "c"}}, "c"),
        ({}, {"metadata": {"thread_id": "d"}}, {}, "d"),  # forwarded as a provider param
        ({"headers": {"X-Thread-Id": "e"}}, {}, {}, "e"),
        ({"thread_id": "a", "headers": {"x-thread-id": "e"}}, {}, {}, "a"),  # the body wins
        ({"thread_id": ""}, {}, {}, None),
        ({}, {}, {}, None),
    ],
)
def test_channels(md: dict, optional: dict, litellm_params: dict, expected: str | None) -> None:
    assert request_thread_id(md, optional, litellm_params) == expected


@pytest.mark.parametrize("bad", ["   ", "x" * 201])
def test_bad_ids_are_400_naming_the_param(bad: str) -> None:
    with pytest.raises(BadRequest) as err:
        request_thread_id({"thread_id": bad})
    assert err.value.param == "metadata.thread_id"
