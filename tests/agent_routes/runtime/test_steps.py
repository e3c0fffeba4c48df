"""How steps are shown: the mode per request/key/config and what each mode sends."""

from __future__ import annotations

import pytest

from agent_routes.runtime.steps import StepsRenderer, parse_steps_mode, steps_mode
from custom_hooks.core.errors import BadRequest

KEY_THINK = {"user_api_key_metadata": {"gateway_identity": {"metadata": {"agent_steps": "think"}}}}


def test_precedence_body_then_metadata_then_key_then_config() -> None:
    assert steps_mode({}, {}, True) == "reasoning"
    assert steps_mode({}, {}, False) == "off"
    assert steps_mode(KEY_THINK, {}, True) == "think"
    assert steps_mode({**KEY_THINK, "agent_steps": "off"}, {}, True) == "off"
    assert steps_mode({**KEY_THINK, "agent_steps": "off"}, {"agent_steps": "reasoning"}, True) == "reasoning"
    assert parse_steps_mode(False) == "off" and parse_steps_mode("false") == "off"
    assert parse_steps_mode("REASONING_CONTENT") == "reasoning" and parse_steps_mode(None) is None


def test_unknown_mode_is_a_400_naming_the_param() -> None:
    with pytest.raises(BadRequest) as err:
        steps_mode({"agent_steps": "loud"}, {}, True)
    assert err.value.param == "metadata.agent_steps"


def test_modes_render_steps_and_answer() -> None:
    r = StepsRenderer("reasoning")
    assert r.step("a") == (None, "a\n") and r.answer("x") == "x"
    assert r.whole("ans") == ("ans", "a\n")
    t = StepsRenderer("think")
    assert t.step("a") == ("<think>\na\n", None) and t.step("b") == ("b\n", None)
    assert t.answer("x") == "</think>\n\nx" and t.answer("y") == "y"
    assert t.whole("ans") == ("<think>\na\nb\n</think>\n\nans", None)
    off = StepsRenderer("off")
    assert off.step("a") == (None, None) and off.whole("ans") == ("ans", None)
