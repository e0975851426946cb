"""README.md and docs/*.md: every relative link and image resolves to a file in the repository (and a `#anchor`
to a heading of that page), README.md stays at most 20,000 bytes, and its quick start's test command is what CI
runs. The link checker is tested on broken links too, so this file can fail."""
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_BYTES = 20_000

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose(text: str) -> str:
    """The page without its front matter, fenced code and inline code (a link inside code is not a link)."""
    if text.startswith("---\n"):
        text = text[text.index("\n---", 3) + 4:]
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (letters, marks, digits, _ and - stay), spaces
    to -."""
    text = heading.strip().lower()
    return "".join(c for c in text if c in " -" or unicodedata.category(c) in ("Pc", "Nd", "No", "Nl")
                   or unicodedata.category(c)[0] in "LM").replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", _FENCE.sub("", text), re.M):
        a = anchor(m.group(1))
        n = seen.get(a, 0)
        seen[a] = n + 1
        out.add(a if n == 0 else f"{a}-{n}")
    return out


def broken_links(page: Path, text: str | None = None) -> list[str]:
    """Each relative link or image of the page that points at no file, or at a heading its target lacks."""
    text = page.read_text() if text is None else text
    bad = []
    for target in _LINK.findall(_prose(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:: not ours to check offline
            continue
        path, _, frag = target.partition("#")
        if not path:  # a heading of this page
            if frag not in anchors(text):
                bad.append(f"{target}: this page has no heading with anchor #{frag}")
            continue
        dest = (page.parent / path).resolve()
        if not dest.exists():
            bad.append(f"{target}: no file {dest}")
        elif frag and dest.suffix == ".md" and frag not in anchors(dest.read_text()):
            bad.append(f"{target}: {dest.name} has no heading with anchor #{frag}")
        elif frag and dest.suffix != ".md":
            bad.append(f"{target}: an anchor into a file that is not Markdown")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert not broken_links(page), f"{page.relative_to(ROOT)}: broken links: {broken_links(page)}"


def test_docs_pages_exist_and_the_readme_links_each_one():
    names = {p.name for p in PAGES[1:]}
    assert {"deploy.md", "arena.md", "benchmarks.md", "api.md", "training.md"} <= names, names
    targets = {t.split("#")[0] for t in _LINK.findall(_prose(README.read_text()))}
    assert {f"docs/{n}" for n in names} <= targets, f"pages the README does not link: {names - {t[5:] for t in targets}}"


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size:,} bytes (at most {README_MAX_BYTES:,}): move prose to docs/"


def test_readme_quick_start_test_command_is_what_ci_runs():
    quick = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in re.search(r"```bash\n(.*?)```", quick, re.S).group(1).splitlines()]
    assert "make run" in commands and "make test" in commands, commands
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci[-1] == "make test", f".ci/run must end in the README's test command `make test`, not {ci[-1]!r}"


def test_every_file_the_code_map_names_exists():
    code_map = README.read_text().split("## Code map", 1)[1]
    dirs = [ROOT, ROOT / "llm_demo", ROOT / "llm_demo" / "ui", ROOT / "llm_demo" / "bench", ROOT / "llm_demo" / "training"]
    names = re.findall(r"`([\w/.]+\.py)`", code_map)
    missing = [n for n in names if not any((d / n).exists() for d in dirs)]
    assert len(names) > 20 and not missing, f"the code map names files that do not exist: {missing}"


def test_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "img.png").write_bytes(b"")
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Deploying for a class: 30 students\n")
    page = tmp_path / "README.md"
    text = ("---\ntitle: x\n---\n# Top\n[ok](docs/a.md) ![ok](img.png) [ok](docs/a.md#deploying-for-a-class-30-students)"
            " [ok](#top) [web](https://example.org/missing) `[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n")
    assert broken_links(page, text) == []
    broken = text + "[gone](docs/b.md) ![gone](missing.png) [bad anchor](docs/a.md#deploying) [self](#nowhere)\n"
    found = broken_links(page, broken)
    assert len(found) == 4, found
    assert any("docs/b.md" in f for f in found) and any("missing.png" in f for f in found)
    assert any("#deploying" in f for f in found) and any("#nowhere" in f for f in found)


@pytest.mark.parametrize("heading, expected", [
    ("Class arena: the whole class's votes, a leaderboard and a DPO round on them",
     "class-arena-the-whole-classs-votes-a-leaderboard-and-a-dpo-round-on-them"),
    ("Compare: base vs SFT vs DPO", "compare-base-vs-sft-vs-dpo"),
    ("The training pipeline: our tiny trio", "the-training-pipeline-our-tiny-trio"),
])
def test_anchor_is_githubs(heading, expected):
    assert anchor(heading) == expected
