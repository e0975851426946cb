"""Shared fixtures: a running app on a free localhost port, and a headless Chromium page on it."""
from pathlib import Path

import pytest

from llm_demo.bench.launch import AppDidNotStart, start_app, stop_app

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "assets" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


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
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    from playwright.sync_api import expect
    pg.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)     # expect() keeps its own 5 s default: too short on a loaded 2-core machine
    pg.goto(app_url)
    pg.get_by_role("tab", name="Tokenizer").wait_for()
    yield pg
    ctx.close()


def open_tab(page, name: str):
    page.get_by_role("tab", name=name).click()


def screenshot(page, name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


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
