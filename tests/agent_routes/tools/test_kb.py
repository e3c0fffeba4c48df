"""lookup_kb: the support knowledge base shipped in agent_routes/support_kb/."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_routes.tools.kb import DEFAULT_KB_DIR, KnowledgeBase, kb_from_options, make_kb_tool


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("my requests fail with budget_exceeded", "KB-102"),
        ("I lost my API key", "KB-101"),
        ("too many requests, rate limited", "KB-103"),
        ("model_not_allowed when calling gpt-4o", "KB-104"),
        ("how do I continue a conversation with an agent", "KB-106"),
        ("the agent is waiting for my approval", "KB-107"),
    ],
)
def test_lookup_finds_the_right_article(question: str, article: str) -> None:
    assert KnowledgeBase().lookup(question, 2)[0].id == article


def test_articles_have_ids_titles_and_sources() -> None:
    kb = KnowledgeBase()
    assert len(kb.articles) == len(list(DEFAULT_KB_DIR.glob("*.md"))) >= 8
    art = kb.get("kb-102")
    assert art is not None
    assert art.title.startswith("My requests fail with budget_exceeded")
    assert art.source == "agent_routes/support_kb/kb-102-budget-exceeded.md"
    assert kb.get("KB-999") is None


def test_tool_output_cites_ids_and_reports_sources() -> None:
    tool = make_kb_tool(KnowledgeBase(), max_results=1)
    msg = tool.invoke(
        {"type": "tool_call", "name": "lookup_kb", "id": "c1", "args": {"query": "budget_exceeded"}}
    )
    assert "KB-102:" in msg.content
    assert msg.artifact == {
        "sources": [
            {
                "n": 1,
                "title": "KB-102: My requests fail with budget_exceeded (HTTP 400)",
                "source": "agent_routes/support_kb/kb-102-budget-exceeded.md",
            }
        ]
    }


def test_no_match_says_so_and_suggests_escalation() -> None:
    tool = make_kb_tool(KnowledgeBase())
    msg = tool.invoke(
        {"type": "tool_call", "name": "lookup_kb", "id": "c1", "args": {"query": "zzqx volcano"}}
    )
    assert "No knowledge-base article matches" in msg.content
    assert "escalate" in msg.content
    assert msg.artifact == {"sources": []}


def test_options_pick_another_folder(tmp_path: Path) -> None:
    (tmp_path / "r.md").write_text("# FAQ-7: Refunds\n\nRefunds take five days.\n")
    (tmp_path / "notitle.md").write_text("Plain text about shipping.\n")
    kb, k = kb_from_options({"kb_dir": str(tmp_path), "max_results": 5})
    assert k == 5
    assert kb.lookup("how long do refunds take")[0].id == "FAQ-7"
    assert {a.id for a in kb.articles.values()} == {"FAQ-7", "notitle"}
    with pytest.raises(ValueError, match="not a directory"):
        kb_from_options({"kb_dir": str(tmp_path / "nope")})
