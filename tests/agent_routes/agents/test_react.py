"""The shared tool loop: the history window sent to the model."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from agent_routes.agents.react import recent


def _turn(i: int) -> list[AnyMessage]:
    call = {"name": "t", "args": {}, "id": f"c{i}"}
    return [
        HumanMessage(f"q{i}"),
        AIMessage("", tool_calls=[call]),
        ToolMessage("r", tool_call_id=f"c{i}"),
        AIMessage(f"a{i}"),
    ]


def test_short_threads_are_sent_whole() -> None:
    thread = _turn(1) + _turn(2)
    assert recent(thread, 8) == thread


def test_long_threads_are_cut_at_a_question() -> None:
    thread = _turn(1) + _turn(2) + _turn(3)  # 12 messages
    window = recent(thread, 6)  # the last 6 start mid-turn 2: cut to turn 3
    assert [m.content for m in window if isinstance(m, HumanMessage)] == ["q3"]
    assert isinstance(window[0], HumanMessage)
    assert recent(thread, 9)[0].content == "q2"


def test_a_turn_longer_than_the_window_keeps_its_question() -> None:
    call = {"name": "t", "args": {}, "id": "x"}
    long_turn: list[AnyMessage] = [HumanMessage("q")]
    for i in range(5):
        long_turn += [
            AIMessage("", tool_calls=[{**call, "id": f"x{i}"}]),
            ToolMessage("r", tool_call_id=f"x{i}"),
        ]
    window = recent(_turn(0) + long_turn, 4)
    assert window[0].content == "q"
    assert len(window) == len(long_turn)
