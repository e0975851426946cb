"""Shared fixtures (a running app on a free localhost port, a headless Chromium page on it, a tiny GPT-2) and the
test tiers: each test gets its markers (pytest.ini) from the fixtures it uses and the file it is in, so
`make test-fast` (-m "not browser and not app and not server and not training and not slow") needs no list. A slow
test in a file of fast ones carries @pytest.mark.slow itself, with the reason next to it."""
from pathlib import Path

import pytest

from llm_demo.bench.launch import AppDidNotStart, start_app, stop_app

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "assets" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Tiers by fixture: a test that uses one of these gets the marker.
FIXTURE_TIERS = {"page": "browser", "browser": "browser", "app_url": "app"}
# Tiers by file, for what no fixture shows: files that start app.py or a server themselves, train models, or are slow
# for other reasons (measured with --durations; each of these files takes more than ~10 s on a 2-core machine).
FILE_TIERS = {
    "browser": ("*_browser.py",),
    "app": ("test_app.py", "test_launch.py", "test_faults.py", "test_arena_faults.py", "test_load.py", "test_api.py",
            "test_inside_api.py", "test_vote_binding.py", "test_fuzz.py"),
    "server": ("test_remote.py",),
    "training": ("test_training.py", "test_arena_training.py", "test_training_shipped.py", "test_rlhf_training.py"),
    "slow": ("test_engine_llamacpp.py", "test_engine_loop_llamacpp.py", "test_engine_capacity.py", "test_models.py",
             "test_security.py"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        tiers = {FIXTURE_TIERS[f] for f in getattr(item, "fixturenames", ()) if f in FIXTURE_TIERS}
        name = item.path.name
        tiers |= {tier for tier, globs in FILE_TIERS.items() if any(Path(name).match(g) for g in globs)}
        for tier in sorted(tiers):
            item.add_marker(tier)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """Start `python app.py` as a subprocess (as a user would) and yield its URL."""
    try:
        proc, url = start_app(tmp_path_factory.mktemp("app") / "app.log", timeout_s=60)
    except AppDidNotStart as exc:
        pytest.fail(str(exc))
    yield url
    stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh page on the app, loaded (Gradio pages never reach networkidle: wait for the tabs)."""
    ctx, pg = open_app(browser, app_url)
    yield pg
    ctx.close()


def open_app(browser, url: str, **context):
    """(browser context, page) on the app at url, its tabs shown; context: new_context's options (a 1280 × 900
    viewport unless given). The caller closes the context."""
    from playwright.sync_api import expect
    ctx = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)     # expect() keeps its own 5 s default: too short on a loaded 2-core machine
    pg.goto(url)
    pg.get_by_role("tab", name="Tokenizer").wait_for()
    return ctx, pg


# Words laid out on more than one line: a Range around each word has one client rect unless the word was broken.
# `at_hyphens`: a line break after a hyphen ("Chinchilla-/optimal") is ordinary wrapping, not a broken word.
_BROKEN_WORDS = """([root, atHyphens]) => { const out = [];
  for (const el of document.querySelectorAll(root)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('.sizing-body')) continue;
      for (const m of node.textContent.matchAll(atHyphens ? /[^\\s-]+/g : /\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) out.push(m[0]);
      }
    }
  }
  return out; }"""


def broken_words(page, root: str, at_hyphens: bool = False) -> list[str]:
    """The words under the elements matching `root` (a CSS selector) that are split across lines."""
    return page.evaluate(_BROKEN_WORDS, [root, at_hyphens])


def open_tab(page, name: str):
    page.get_by_role("tab", name=name).click()


def screenshot(page, name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def demo():
    """The app's Blocks, built in this process (no server): its event table and handlers."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    import app
    yield app.build_app()
    mp.undo()


@pytest.fixture(scope="module")
def client(app_url):
    """A Gradio API client on the running app."""
    from gradio_client import Client
    c = Client(app_url, verbose=False)
    yield c
    c.close()


def answer_text(message: dict) -> str:
    """The text of a chat message as the API returns it (a string, or Gradio 6's list of {type, text} parts)."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(c.get("text", "") for c in content)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from tiny import build_tiny
    return build_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def tiny_chat(monkeypatch, tiny_dir):
    """The tiny SFT model registered as a chat model ("tiny-chat") for the Chat and branching tests."""
    from llm_demo import models
    spec = models.ModelSpec("tiny-chat", "tiny", "sft", "embedded", str(tiny_dir), "tiny chat")
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, "tiny-chat": spec})
    return "tiny-chat"


@pytest.fixture(scope="session")
def tiny_lm(tiny_dir):
    from tiny import load_tiny
    return load_tiny(tiny_dir, "sft")


@pytest.fixture(scope="session")
def tiny_base(tiny_dir):
    from tiny import load_tiny
    return load_tiny(tiny_dir, "base")


@pytest.fixture(scope="module", params=["served", "shipped"])
def llama_both_formats(request):
    """SmolLM2 on llama.cpp in both formats (issue 24): the one it serves (models.load: gguf_formats' choice, BF16
    on CPUs with native bf16, Q8_0 elsewhere) and the shipped Q4_1 file itself (skipped where that is the served one)."""
    from llm_demo import batching, llamacpp, models
    got = models.load(models.DEFAULT_CHAT_MODEL)
    assert got.backend == "llama.cpp", f"SmolLM2 should run on llama.cpp by default, got {got.backend}"
    if request.param == "served":
        yield got
        return
    if got.path == models.gguf_path(got.spec):
        pytest.skip(f"llama.cpp serves the shipped file itself here ({got.weights}): the 'served' runs cover it")
    shipped = llamacpp.LlamaModel(got.spec, models.gguf_path(got.spec), got.tokenizer)
    assert shipped.weights == "Q4_1", shipped.weights
    yield shipped
    batching.shutdown()
    shipped.close()
