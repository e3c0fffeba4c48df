"""The ``lookup_kb`` tool: the support agent's knowledge base.

The knowledge base is a folder of short Markdown articles (by default the gateway's own
support articles shipped in ``agent_routes/support_kb/``), each titled ``# KB-101: <question>``.
Articles are ranked with the same BM25 index as the local web search. The tool returns
the best articles with their ids so the agent can cite them (``KB-102``), and reports the
articles as its artifact (``{"sources": [...]}``) for the answer's sources list.

Options (``gateway.agents.registry.support.tools.lookup_kb`` in config.yaml)::

    lookup_kb: {kb_dir: agent_routes/support_kb, max_results: 2}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from agent_routes.tools.search import PACKAGE_DIR, folder_index

__all__ = ["DEFAULT_KB_DIR", "Article", "KnowledgeBase", "make_kb_tool"]

DEFAULT_KB_DIR = PACKAGE_DIR / "support_kb"
_ID = re.compile(r"^(?P<id>[A-Z]+-\d+)\s*:\s*(?P<title>.+)$")


@dataclass(frozen=True)
class Article:
    """One knowledge-base article."""

    id: str
    title: str
    body: str
    source: str


class KnowledgeBase:
    """The articles of a folder, searchable by question."""

    def __init__(self, folder: Path = DEFAULT_KB_DIR) -> None:
        if not folder.is_dir():
            raise ValueError(
                f"lookup_kb kb_dir {folder} is not a directory; point it at a folder of .md files"
            )
        self.index = folder_index(folder)
        docs = self.index.docs
        self.articles: dict[str, Article] = {}
        for doc in docs:
            match = _ID.match(doc.title)
            art_id, title = (
                (match["id"], match["title"].strip()) if match else (Path(doc.source).stem, doc.title)
            )
            self.articles[doc.source] = Article(id=art_id, title=title, body=doc.text, source=doc.source)

    def lookup(self, query: str, k: int = 2) -> list[Article]:
        """The ``k`` articles that best answer ``query`` (none if nothing matches)."""
        return [self.articles[doc.source] for doc, _ in self.index.search(query, k)]

    def get(self, article_id: str) -> Article | None:
        return next((a for a in self.articles.values() if a.id == article_id.strip().upper()), None)


def _render(query: str, articles: list[Article]) -> str:
    if not articles:
        return (
            f"No knowledge-base article matches {query!r}. Tell the customer you could not find it "
            "and offer to escalate to a human."
        )
    parts = [f"{a.id}: {a.title}\n{' '.join(a.body.split())}" for a in articles]
    return "Knowledge-base articles (cite their ids):\n\n" + "\n\n".join(parts)


class _LookupArgs(BaseModel):
    query: str = Field(description="The customer's question or the problem, in a few words.")


def make_kb_tool(kb: KnowledgeBase, *, max_results: int = 2, name: str = "lookup_kb") -> BaseTool:
    """The lookup tool: article text for the model, ``{"sources": [...]}`` as its artifact."""

    def run(query: str) -> tuple[str, dict[str, Any]]:
        found = kb.lookup(query, max_results)
        sources = [
            {"n": i, "title": f"{a.id}: {a.title}", "source": a.source} for i, a in enumerate(found, 1)
        ]
        return _render(query, found), {"sources": sources}

    return StructuredTool.from_function(
        func=run,
        name=name,
        description="Search the support knowledge base for articles that answer a customer's question.",
        args_schema=_LookupArgs,
        response_format="content_and_artifact",
    )


def kb_from_options(options: Mapping[str, Any] | None) -> tuple[KnowledgeBase, int]:
    """The knowledge base and result count the tool options ask for."""
    options = options or {}
    folder = Path(str(options.get("kb_dir", DEFAULT_KB_DIR)))
    return KnowledgeBase(folder), int(options.get("max_results", 2))
