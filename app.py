"""LLM Lab: assembles the tabs and launches. Run: `python app.py` (or `make run`).

Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, as on Hugging Face Spaces.
"""
import ctypes
import logging
import os
import socket
import sys

import gradio as gr

from llm_demo import config
from llm_demo.links import TAB_LABELS
from llm_demo.ui.chat_tab import build_chat_tab
from llm_demo.ui.compare_tab import build_compare_tab, forget_session
from llm_demo.ui import links_ui
from llm_demo.ui.inside_tab import build_inside_tab
from llm_demo.ui.lesson_tab import build_lesson_tab
from llm_demo.ui import phone
from llm_demo.ui.projector import projector_toggle
from llm_demo.ui.scaling_tab import build_scaling_tab
from llm_demo.ui.tokenizer_tab import build_tokenizer_tab

INTRO = """# LLM Lab: how large language models work
Every number on these pages is measured live on this machine or cites its source."""


def build_app() -> gr.Blocks:
    # Gradio's copies of downloads are deleted every CACHE_CLEAN_EVERY_S seconds once CACHE_MAX_AGE_S old.
    with gr.Blocks(title="LLM Lab", delete_cache=(config.CACHE_CLEAN_EVERY_S, config.CACHE_MAX_AGE_S)) as demo:
        gr.Markdown(INTRO)
        projector = projector_toggle()
        note = links_ui.link_note()
        targets, copies = {}, {}  # tab id -> {link key: input} and its Copy link row (llm_demo/ui/links_ui.py)
        # "wrap": on a phone (390 px) the six tab names wrap onto a second row instead of hiding behind "⋯"
        # (Gradio's default "menu"); on wider screens they fit on one row, so nothing changes there (issue 27).
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            with gr.Tab(TAB_LABELS["lesson"], id="lesson"):
                show_me = build_lesson_tab()
            with gr.Tab(TAB_LABELS["tokenizer"], id="tokenizer"):
                copies["tokenizer"] = links_ui.copy_link_row("tokenizer")
                targets["tokenizer"] = build_tokenizer_tab()
            with gr.Tab(TAB_LABELS["chat"], id="chat"):
                copies["chat"] = links_ui.copy_link_row("chat")
                targets["chat"] = build_chat_tab()
            with gr.Tab(TAB_LABELS["compare"], id="compare"):
                copies["compare"] = links_ui.copy_link_row("compare")
                targets["compare"] = build_compare_tab()
            with gr.Tab(TAB_LABELS["scaling"], id="scaling"):
                copies["scaling"] = links_ui.copy_link_row("scaling")
                targets["scaling"] = build_scaling_tab()
            with gr.Tab(TAB_LABELS["inside"], id="inside") as inside_tab:
                copies["inside"] = links_ui.copy_link_row("inside")
                targets["inside"] = build_inside_tab(inside_tab)
        links_ui.wire(demo, tabs, targets, copies, show_me, projector, note)
        demo.unload(forget_session)
    # Model handlers share concurrency_id=config.MODEL_CONCURRENCY_ID (set in each tab) and its limit; the page shows
    # each visitor's place in line, and a full queue answers Gradio's "busy, please try again". Every other handler
    # is cheap and unlimited (None), so it starts at once instead of waiting behind generation.
    demo.queue(max_size=config.QUEUE_MAX_SIZE, default_concurrency_limit=None)
    return demo


def limit_malloc_arenas(n: int = 2) -> None:
    """glibc gives each allocating thread its own heap ("arena"). A batch's KV cache is grown by whichever reader
    leads a step, so freed cache memory ends up spread over many arenas and resident memory creeps up under load
    (measured: +31% over three rounds of 30 students without this, +8% with it). Same as MALLOC_ARENA_MAX=2;
    does nothing on other C libraries."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, n)       # -8 is M_ARENA_MAX in <malloc.h>
    except (OSError, AttributeError):
        pass


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def patient_localhost_check(wait_s: float = 60.0) -> None:
    """Gradio's launch() asks its own page for a response (5 tries, 3 s each) and exits with "When localhost is not
    accessible, a shareable link must be created" when they all time out. On a 2-core machine loading the warm-up
    models, or shared with other work, the first answer can take longer than that (seen with load 12-17 on 2 cores):
    keep asking for up to wait_s before giving that verdict."""
    import time
    from gradio import networking
    quick = networking.url_ok

    def url_ok(url: str) -> bool:
        deadline = time.monotonic() + wait_s
        while not quick(url):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True
    networking.url_ok = url_ok


if __name__ == "__main__":
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    from llm_demo.teacher_guard import token_problem
    if token_problem(config.TEACHER_TOKEN):
        sys.exit(token_problem(config.TEACHER_TOKEN))
    if not port_free(host, port):
        sys.exit(f"Port {port} on {host} is already in use: stop the other server or set GRADIO_SERVER_PORT.")
    limit_malloc_arenas()
    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.getLogger("llm_demo").setLevel(logging.INFO)    # refusals as one line each, faults with tracebacks
    # Warm start: load the default models in a background thread (the tabs say "warming up" meanwhile) while the
    # page is built and Gradio starts its server; the chat model first (it loads in about a second), then the trio.
    from llm_demo import models, warmup
    warmup.warm_up([models.DEFAULT_CHAT_MODEL, *models.family_stages(models.DEFAULT_FAMILY).values()])
    demo = build_app()
    from starlette.middleware import Middleware
    patient_localhost_check()
    demo.launch(server_name=host, server_port=port, show_error=True, prevent_thread_lock=True, css=phone.CSS, js=phone.JS,
                app_kwargs={"middleware": [Middleware(links_ui.LongLinkGuard)]})   # 414 + a sentence, not a 500
    demo.block_thread()
