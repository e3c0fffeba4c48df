"""web_search: local BM25 over the shipped docs, Tavily over httpx (MockTransport), citations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from agent_routes.tools.search import (
    DEFAULT_DOCS_DIR,
    LocalSearch,
    SearchError,
    TavilySearch,
    make_search_backend,
    make_search_tool,
    parse_sources,
    tokenize,
    turn_sources,
    with_sources,
)

ROOT = Path(__file__).resolve().parents[3]


def test_tokenize_drops_stop_words_and_stems() -> None:
    assert tokenize("How do the Budgets work?") == ["budget", "work"]
    assert tokenize("retries failed") == tokenize("retry fails")


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("How do budgets work?", "budgets.md"),
        ("what happens when a provider fails", "retries-and-fallbacks.md"),
        ("thread memory after a restart", "threads.md"),
        ("how does cost routing pick a cheaper model", "cost-routing.md"),
        ("guardrails for PII", "guardrails.md"),
        ("approve an email an agent wants to send", "approvals.md"),
    ],
)
def test_local_search_ranks_the_relevant_doc_first(query: str, best: str) -> None:
    results = LocalSearch().search(query, 3)
    assert results[0].source == f"agent_routes/search_corpus/{best}"
    assert results[0].snippet
    assert all((ROOT / r.source).is_file() for r in results)  # citable paths that exist


def test_local_search_shipped_docs_and_no_match() -> None:
    assert len(list(DEFAULT_DOCS_DIR.glob("*.md"))) >= 8
    assert LocalSearch().search("zzzqqq xylophone", 3) == []


def test_local_search_over_another_folder(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Pricing\n\nThe widget costs ten euros.\n")
    (tmp_path / "b.md").write_text("# Shipping\n\nWidgets ship in two days.\n")
    backend = make_search_backend({"backend": "local", "docs_dir": str(tmp_path)}, environ={})
    hits = backend.search("how much does the widget cost", 5)
    assert hits[0].title == "Pricing"
    with pytest.raises(ValueError, match="not a directory"):
        make_search_backend({"docs_dir": str(tmp_path / "missing")}, environ={})


def test_backend_choice() -> None:
    assert isinstance(make_search_backend({}, environ={}), LocalSearch)
    assert isinstance(make_search_backend({}, environ={"TAVILY_API_KEY": "tvly-x"}), TavilySearch)
    assert isinstance(
        make_search_backend({"backend": "local"}, environ={"TAVILY_API_KEY": "tvly-x"}), LocalSearch
    )
    with pytest.raises(ValueError, match="TAVILY_API_KEY"):
        make_search_backend({"backend": "tavily"}, environ={})
    with pytest.raises(ValueError, match="auto, tavily or local"):
        make_search_backend({"backend": "bing"}, environ={})


def _tavily_handler(seen: list[httpx.Request], status: int = 200) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status != 200:
            return httpx.Response(status, json={"detail": "no"})
        body = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "query": body["query"],
                "results": [
                    {
                        "title": "LiteLLM docs",
                        "url": "https://docs.litellm.ai/",
                        "content": "A  proxy.",
                        "score": 0.9,
                    },
                    {"title": "No url", "content": "dropped"},
                ],
            },
        )

    return handle


def test_tavily_request_and_parsing_sync() -> None:
    seen: list[httpx.Request] = []
    backend = make_search_backend(
        {}, environ={"TAVILY_API_KEY": "tvly-secret"}, transport=httpx.MockTransport(_tavily_handler(seen))
    )
    results = backend.search("litellm proxy", 3)
    assert [(r.title, r.source, r.snippet) for r in results] == [
        ("LiteLLM docs", "https://docs.litellm.ai/", "A proxy.")
    ]
    (request,) = seen
    assert request.url == "https://api.tavily.com/search"
    assert request.headers["authorization"] == "Bearer tvly-secret"
    assert json.loads(request.content)["query"] == "litellm proxy"
    assert json.loads(request.content)["max_results"] == 3
    assert "tvly-secret" not in repr(backend)


async def test_tavily_async_and_errors_do_not_leak_the_key() -> None:
    seen: list[httpx.Request] = []
    ok = TavilySearch("tvly-secret", transport=httpx.MockTransport(_tavily_handler(seen)))
    assert [r.source for r in await ok.asearch("q", 2)] == ["https://docs.litellm.ai/"]
    bad = TavilySearch("tvly-secret", transport=httpx.MockTransport(_tavily_handler(seen, status=401)))
    with pytest.raises(SearchError, match="HTTP 401") as info:
        await bad.asearch("q", 2)
    assert "tvly-secret" not in str(info.value)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(SearchError, match="ConnectError"):
        TavilySearch("k", transport=httpx.MockTransport(down)).search("q", 2)


def _tool_graph() -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node(
        "tools", ToolNode([make_search_tool(LocalSearch(), max_results=2)], handle_tool_errors=True)
    )
    graph.add_edge(START, "tools")
    return graph.compile()


def _search_call(query: str, call_id: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "web_search", "args": {"query": query}, "id": call_id}])


async def test_search_tool_numbers_sources_consistently_within_a_turn() -> None:
    graph = _tool_graph()
    messages: list[Any] = [HumanMessage("q"), _search_call("budgets and spend", "c1")]
    messages = (await graph.ainvoke({"messages": messages}))["messages"]
    first = messages[-1]
    assert isinstance(first, ToolMessage)
    assert first.content.startswith("Search results")
    assert [s["n"] for s in first.artifact["sources"]] == [1, 2]
    budgets = first.artifact["sources"][0]
    assert budgets["source"] == "agent_routes/search_corpus/budgets.md"

    messages = [*messages, _search_call("budgets redis caching", "c2")]
    messages = (await graph.ainvoke({"messages": messages}))["messages"]
    second = messages[-1].artifact["sources"]
    # budgets.md keeps its number; a new source gets the next one
    by_source = {s["source"]: s["n"] for s in second}
    assert by_source.get("agent_routes/search_corpus/budgets.md", 1) == 1
    assert set(by_source.values()) - {1, 2} <= {3, 4}
    assert f"[{by_source[second[0]['source']]}]" in messages[-1].content
    assert [s["n"] for s in turn_sources(messages)] == list(range(1, len(turn_sources(messages)) + 1))


def test_turn_sources_start_at_the_last_human_message() -> None:
    old = ToolMessage(
        "r", tool_call_id="a", artifact={"sources": [{"n": 1, "title": "Old", "source": "old.md"}]}
    )
    new = ToolMessage(
        "r", tool_call_id="b", artifact={"sources": [{"n": 1, "title": "New", "source": "new.md"}]}
    )
    assert [s["source"] for s in turn_sources([HumanMessage("1"), old, HumanMessage("2"), new])] == ["new.md"]
    assert turn_sources([HumanMessage("1"), ToolMessage("plain", tool_call_id="c")]) == []


def test_with_sources_lists_cited_sources_or_all() -> None:
    sources = [
        {"n": 1, "title": "A", "source": "a.md"},
        {"n": 2, "title": "B", "source": "https://b.example/"},
    ]
    cited = with_sources("B says so [2].", sources)
    assert cited.endswith("Sources:\n[2] B - https://b.example/")
    assert "a.md" not in cited
    everything = with_sources("No numbers here.", sources)
    assert "[1] A - a.md" in everything
    assert "[2] B - https://b.example/" in everything
    assert with_sources("x", []) == "x"
    assert parse_sources(cited) == [{"n": 2, "title": "B", "source": "https://b.example/"}]
    assert parse_sources(everything) == sources
    assert parse_sources("no list") == []
    already = "Answer [1]\n\nSources:\n[1] mine"
    assert with_sources(already, sources) == already


def test_the_folder_index_is_reused_until_a_file_changes(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# Pricing\n\nThe widget costs ten euros.\n")
    first = LocalSearch(tmp_path)
    assert LocalSearch(tmp_path).index is first.index  # built once, shared by later runs
    doc.write_text("# Pricing\n\nThe gadget costs twelve euros, shipped.\n")
    assert LocalSearch(tmp_path).search("gadget", 1)[0].title == "Pricing"
    assert LocalSearch(tmp_path).index is not first.index


@pytest.mark.parametrize(
    "answer", ["Budgets cap spend [1].", "Budgets cap spend [1]. ", "Budgets [1]\n", "Budgets [1]\n\n"]
)
def test_sources_keep_the_answer_as_streamed(answer: str) -> None:
    """The answer before the Sources list is exactly what was streamed (never trimmed)."""
    rows = [{"n": 1, "title": "Budgets", "source": "agent_routes/search_corpus/budgets.md"}]
    text = with_sources(answer, rows)
    assert text.startswith(answer)
    assert text[len(answer) :].lstrip("\n") == "Sources:\n[1] Budgets - agent_routes/search_corpus/budgets.md"
    assert "\n\n\nSources" not in text and "\n\nSources" in text
