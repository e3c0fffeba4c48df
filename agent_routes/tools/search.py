"""The ``web_search`` tool: Tavily when a key is configured, else a local document search.

Two backends behind one small interface (:class:`SearchBackend`):

- :class:`TavilySearch` calls ``POST https://api.tavily.com/search`` with httpx (a
  transport can be injected, so tests use ``httpx.MockTransport``, never the network);
- :class:`LocalSearch` ranks the Markdown files of a folder (by default the gateway's own
  docs shipped in ``agent_routes/search_corpus/``) with BM25, so the research agent finds
  something meaningful offline.

Results carry their source (a URL or a file path) and are numbered consistently within a
turn, so an answer can cite ``[1]`` and end with a ``Sources:`` list
(:func:`turn_sources`, :func:`with_sources`).

Options (``gateway.agents.registry.<agent>.tools.web_search`` in config.yaml)::

    web_search: {backend: auto, max_results: 4, docs_dir: agent_routes/search_corpus}

``backend`` is ``auto`` (Tavily when ``TAVILY_API_KEY`` is set), ``tavily`` or ``local``.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Protocol

import httpx
from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import InjectedState
from pydantic import BaseModel, Field

__all__ = [
    "DEFAULT_DOCS_DIR",
    "Bm25Index",
    "Document",
    "LocalSearch",
    "SearchBackend",
    "SearchResult",
    "TavilySearch",
    "make_search_backend",
    "make_search_tool",
    "parse_sources",
    "search_tool_from_options",
    "turn_sources",
    "with_sources",
]

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # agent_routes/
DEFAULT_DOCS_DIR = PACKAGE_DIR / "search_corpus"
TAVILY_URL = "https://api.tavily.com/search"
SOURCES_HEADING = "Sources:"

_WORD = re.compile(r"[a-z0-9_]+")
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i if in is it its me my of on or so that the "
    "their them then there these this to was what when where which who why will with you your".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased words without stop words, lightly stemmed ("budgets" -> "budget")."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if len(word) > 5 and word.endswith("ing"):
            word = word[:-3]
        elif len(word) > 4 and word.endswith("ed"):
            word = word[:-2]
        if len(word) > 3 and word.endswith("e"):
            word = word[:-1]
        out.append(word)
    return out


@dataclass(frozen=True)
class Document:
    """A searchable text with where it came from."""

    source: str
    title: str
    text: str


@dataclass(frozen=True)
class SearchResult:
    """One hit: what to cite (``source``) and what to read (``snippet``)."""

    title: str
    source: str
    snippet: str
    score: float = 0.0


class Bm25Index:
    """Okapi BM25 over a few dozen documents, plus a bonus for query words in the title."""

    def __init__(self, docs: Sequence[Document], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.docs = list(docs)
        self._k1, self._b = k1, b
        self._tfs = [Counter(tokenize(f"{d.title} {d.text}")) for d in self.docs]
        self._titles = [set(tokenize(d.title)) for d in self.docs]
        self._lens = [sum(tf.values()) for tf in self._tfs]
        self._avg = (sum(self._lens) / len(self._lens)) if self._lens else 0.0
        df: Counter[str] = Counter()
        for tf in self._tfs:
            df.update(tf.keys())
        n = len(self.docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def search(self, query: str, k: int = 4) -> list[tuple[Document, float]]:
        """The best ``k`` documents for ``query`` with a positive score, best first."""
        terms = set(tokenize(query))
        scored: list[tuple[Document, float]] = []
        for doc, tf, length, title in zip(self.docs, self._tfs, self._lens, self._titles, strict=True):
            score = 0.0
            for term in terms:
                freq = tf.get(term, 0)
                if freq:
                    norm = freq + self._k1 * (1 - self._b + self._b * length / (self._avg or 1.0))
                    score += self._idf[term] * freq * (self._k1 + 1) / norm
                    if term in title:
                        score += self._idf[term] * (self._k1 + 1)
            if score > 0:
                scored.append((doc, score))
        scored.sort(key=lambda pair: (-pair[1], pair[0].source))
        return scored[:k]


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(PACKAGE_DIR.parent).as_posix()
    except ValueError:
        return path.as_posix()


def load_markdown(folder: Path) -> list[Document]:
    """Every ``*.md`` in ``folder``: title from the first ``#`` heading, source = its path."""
    docs: list[Document] = []
    for path in sorted(folder.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        first, _, rest = text.partition("\n")
        title = first.lstrip("#").strip() if first.startswith("#") else path.stem
        docs.append(Document(source=_display_path(path), title=title, text=rest.strip()))
    return docs


def folder_index(folder: Path) -> Bm25Index:
    """The index of ``folder``'s Markdown files, cached until a file changes.

    Graphs are built once per run, so this keeps re-reading and re-tokenising the folder
    off every run.
    """
    stats = ((p.name, p.stat()) for p in sorted(folder.glob("*.md")))  # one stat per file
    stamp = tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)
    return _folder_index(folder.resolve(), stamp)


@lru_cache(maxsize=16)
def _folder_index(folder: Path, stamp: tuple[tuple[str, int, int], ...]) -> Bm25Index:
    return Bm25Index(load_markdown(folder))


def best_snippet(text: str, query: str, limit: int = 320) -> str:
    """The paragraph sharing most words with ``query``, cut to ``limit`` characters."""
    terms = set(tokenize(query))
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not paragraphs:
        return ""
    best = max(paragraphs, key=lambda p: (len(terms & set(tokenize(p))), -paragraphs.index(p)))
    return best if len(best) <= limit else best[: limit - 3].rstrip() + "..."


class SearchBackend(Protocol):
    """Anything that turns a query into ranked results."""

    def search(self, query: str, max_results: int) -> list[SearchResult]: ...

    async def asearch(self, query: str, max_results: int) -> list[SearchResult]: ...


class LocalSearch:
    """BM25 over the Markdown files of a folder; works offline."""

    def __init__(self, folder: Path = DEFAULT_DOCS_DIR) -> None:
        if not folder.is_dir():
            raise ValueError(
                f"web_search docs_dir {folder} is not a directory; point it at a folder of .md files"
            )
        self.folder = folder
        self.index = folder_index(folder)

    def search(self, query: str, max_results: int) -> list[SearchResult]:
        return [
            SearchResult(
                title=d.title, source=d.source, snippet=best_snippet(d.text, query), score=round(s, 3)
            )
            for d, s in self.index.search(query, max_results)
        ]

    async def asearch(self, query: str, max_results: int) -> list[SearchResult]:
        return self.search(query, max_results)


class SearchError(RuntimeError):
    """The search service failed; the message is safe to show the model."""


class TavilySearch:
    """Tavily's search API over httpx (the key goes in the Authorization header only)."""

    def __init__(
        self,
        api_key: str,
        *,
        url: str = TAVILY_URL,
        timeout_s: float = 15.0,
        transport: httpx.MockTransport | httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key
        self.url = url
        self.timeout_s = timeout_s
        self._transport = transport

    def __repr__(self) -> str:
        return f"TavilySearch(url={self.url!r})"

    def _request(self, query: str, max_results: int) -> dict[str, Any]:
        return {"query": query, "max_results": max_results, "search_depth": "basic", "include_answer": False}

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json"}

    @staticmethod
    def _parse(response: httpx.Response) -> list[SearchResult]:
        if response.status_code != 200:
            raise SearchError(f"web search failed: Tavily answered HTTP {response.status_code}")
        try:
            rows = response.json().get("results") or []
        except ValueError as exc:
            raise SearchError("web search failed: Tavily sent a response that is not JSON") from exc
        return [
            SearchResult(
                title=str(r.get("title") or r.get("url") or ""),
                source=str(r.get("url") or ""),
                snippet=" ".join(str(r.get("content") or "").split())[:320],
                score=float(r.get("score") or 0.0),
            )
            for r in rows
            if isinstance(r, Mapping) and r.get("url")
        ]

    def search(self, query: str, max_results: int) -> list[SearchResult]:
        transport = self._transport if isinstance(self._transport, httpx.BaseTransport) else None
        try:
            with httpx.Client(transport=transport, timeout=self.timeout_s) as client:
                response = client.post(
                    self.url, json=self._request(query, max_results), headers=self._headers()
                )
        except httpx.HTTPError as exc:
            raise SearchError(f"web search failed: {type(exc).__name__}") from exc
        return self._parse(response)

    async def asearch(self, query: str, max_results: int) -> list[SearchResult]:
        transport = self._transport if isinstance(self._transport, httpx.AsyncBaseTransport) else None
        try:
            async with httpx.AsyncClient(transport=transport, timeout=self.timeout_s) as client:
                response = await client.post(
                    self.url, json=self._request(query, max_results), headers=self._headers()
                )
        except httpx.HTTPError as exc:
            raise SearchError(f"web search failed: {type(exc).__name__}") from exc
        return self._parse(response)


def make_search_backend(
    options: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
) -> SearchBackend:
    """The backend the options ask for: ``backend`` auto | tavily | local (see module doc)."""
    options = options or {}
    env = os.environ if environ is None else environ
    backend = str(options.get("backend", "auto"))
    key = env.get("TAVILY_API_KEY", "")
    if backend not in {"auto", "tavily", "local"}:
        raise ValueError(f"web_search backend must be auto, tavily or local, not {backend!r}")
    if backend == "tavily" and not key:
        raise ValueError("web_search backend 'tavily' needs TAVILY_API_KEY in the environment")
    if backend == "tavily" or (backend == "auto" and key):
        return TavilySearch(key, url=str(options.get("url", TAVILY_URL)), transport=transport)
    folder = Path(str(options.get("docs_dir", DEFAULT_DOCS_DIR)))
    return LocalSearch(folder)


def search_tool_from_options(options: Mapping[str, Any] | None) -> BaseTool:
    """The ``web_search`` tool the agent's ``tools.web_search`` options ask for."""
    options = options or {}
    return make_search_tool(make_search_backend(options), max_results=int(options.get("max_results", 4)))


# --- citations ---------------------------------------------------------------------


def turn_sources(messages: Sequence[AnyMessage]) -> list[dict[str, Any]]:
    """Sources cited by tool results since the last human message, in citation order.

    A tool reports its sources as ``ToolMessage.artifact = {"sources": [{"n", "title",
    "source"}, ...]}``; each source appears once, under the number it was first given.
    """
    start = 0
    for i, msg in enumerate(messages):
        if isinstance(msg, HumanMessage):
            start = i
    seen: dict[str, dict[str, Any]] = {}
    for msg in messages[start:]:
        artifact = msg.artifact if isinstance(msg, ToolMessage) else None
        if isinstance(artifact, Mapping):
            for src in artifact.get("sources") or []:
                if isinstance(src, Mapping) and src.get("source") and src["source"] not in seen:
                    seen[str(src["source"])] = {
                        "n": len(seen) + 1,
                        "title": str(src.get("title") or ""),
                        "source": str(src["source"]),
                    }
    return list(seen.values())


_CITATION = re.compile(r"\[(\d{1,3})\]")


def with_sources(answer: str, sources: Iterable[Mapping[str, Any]]) -> str:
    """``answer`` followed by a ``Sources:`` list, unless it already has one.

    When the answer cites some sources (``[2]``), only those are listed; otherwise every
    source the turn consulted is.
    """
    rows = list(sources)
    if not rows or SOURCES_HEADING in answer:
        return answer
    cited = {int(n) for n in _CITATION.findall(answer)}
    if any(int(s["n"]) in cited for s in rows):
        rows = [s for s in rows if int(s["n"]) in cited]
    lines = [f"[{s['n']}] {s['title']} - {s['source']}" for s in rows]
    # The answer is kept as written: a streamed answer has already reached the client, so
    # trimming it here would make the streamed and the non-streamed answers differ.
    newlines = len(answer) - len(answer.rstrip("\n"))
    return f"{answer}{chr(10) * max(0, 2 - newlines)}{SOURCES_HEADING}\n" + "\n".join(lines)


_SOURCE_LINE = re.compile(r"^\[(?P<n>\d{1,3})\] (?P<title>.*) - (?P<source>\S+)$")


def parse_sources(text: str) -> list[dict[str, Any]]:
    """The ``Sources:`` list of an answer written by :func:`with_sources` (e.g. another agent's)."""
    _, heading, tail = text.rpartition(SOURCES_HEADING)
    if not heading:
        return []
    rows = [_SOURCE_LINE.match(line.strip()) for line in tail.strip().splitlines()]
    return [{"n": int(m["n"]), "title": m["title"], "source": m["source"]} for m in rows if m]


def _number(results: Sequence[SearchResult], earlier: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    known = {str(s["source"]): int(s["n"]) for s in earlier}
    rows: list[dict[str, Any]] = []
    for r in results:
        if r.source not in known:
            known[r.source] = len(known) + 1
        rows.append({"n": known[r.source], **asdict(r)})
    return rows


def _render(query: str, rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return f"No results for {query!r}. Try other words, or answer that nothing was found."
    parts = [f"[{r['n']}] {r['title']} ({r['source']})\n{r['snippet']}" for r in rows]
    return "Search results (cite them as [n]):\n\n" + "\n\n".join(parts)


class _SearchArgs(BaseModel):
    query: str = Field(description="What to search for, in a few words.")
    state: Annotated[dict[str, Any], InjectedState] = Field(default_factory=dict)


def make_search_tool(backend: SearchBackend, *, max_results: int = 4, name: str = "web_search") -> BaseTool:
    """The search tool: text for the model, ``{"sources": [...]}`` as its artifact.

    Numbers continue across searches in one turn (the graph's state is injected), so
    ``[2]`` means the same source in every result the model sees.
    """

    def _finish(
        query: str, results: list[SearchResult], state: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        rows = _number(results, turn_sources(list(state.get("messages") or [])))
        sources = [{"n": r["n"], "title": r["title"], "source": r["source"]} for r in rows]
        return _render(query, rows), {"sources": sources}

    def run(query: str, state: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        return _finish(query, backend.search(query, max_results), state or {})

    async def arun(query: str, state: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        return _finish(query, await backend.asearch(query, max_results), state or {})

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=name,
        description=(
            "Search the web (or the gateway's documentation when offline) for facts. "
            "Returns numbered results with their sources; cite them as [n]."
        ),
        args_schema=_SearchArgs,
        response_format="content_and_artifact",
    )
