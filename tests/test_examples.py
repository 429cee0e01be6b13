"""Every conversation in examples/ runs as written against the embedded server (``wsctl serve``)."""

from __future__ import annotations

import asyncio
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import SCALE, TIMEOUT, invoke

from wsctl.server import EmbeddedServer

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


@pytest.fixture(scope="module")
def serve() -> Iterator[EmbeddedServer]:
    """``wsctl serve``'s server with its defaults, on a free port, in a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = EmbeddedServer(port=0)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(TIMEOUT)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(TIMEOUT)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(TIMEOUT)


def test_there_are_the_three_examples() -> None:
    assert {path.stem for path in EXAMPLES} >= {"graphql", "heartbeat", "jsonrpc"}


@pytest.mark.timeout(60 * SCALE)
@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_against_wsctl_serve(
    serve: EmbeddedServer, example: Path, tmp_path: Path
) -> None:
    written = tomllib.loads(example.read_text(encoding="utf-8"))["url"]
    # Only the port changes: the file says 8765, wsctl serve's default.
    assert urlsplit(written).port == 8765
    url = serve.url(urlsplit(written).path)
    report = tmp_path / "report.xml"
    result = invoke(["run", str(example), "--url", url, "--report", f"junit:{report}"])
    assert result.exit_code == 0, result.stderr
    assert 'failures="0" errors="0"' in report.read_text()


def _readme_conversations() -> list[str]:
    """The TOML conversations shown in README's "Conversations" section."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Conversations\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```toml\n")[1:]]


README_CONVERSATIONS = _readme_conversations()


def test_readme_shows_the_three_conversations() -> None:
    assert len(README_CONVERSATIONS) == 3


@pytest.mark.timeout(60 * SCALE)
@pytest.mark.parametrize("text", README_CONVERSATIONS, ids=["graphql", "heartbeat", "jsonrpc"])
def test_readme_conversation_runs_against_wsctl_serve(
    serve: EmbeddedServer, text: str, tmp_path: Path
) -> None:
    path = tmp_path / "readme.toml"
    path.write_text(text, encoding="utf-8")
    url = serve.url(urlsplit(tomllib.loads(text)["url"]).path)
    result = invoke(["run", str(path), "--url", url])
    assert result.exit_code == 0, result.stderr
