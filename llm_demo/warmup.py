"""Warm start: the app serves at once while the default models load in a background thread; the Chat and Compare
tabs say "warming up" until they are ready (a request for a model that is still loading simply waits for it)."""
import logging
import threading
import time

from llm_demo import models

log = logging.getLogger(__name__)

_warm: dict[str, str] = {}          # model name -> "" while loading, "ready", or why it failed
_warm_lock = threading.Lock()


def warm_up(names: list[str]) -> threading.Thread:
    """Load these models in a background thread (the app serves at once; a request for one of them waits for
    its load, which happens only once)."""
    names = [n for n in dict.fromkeys(names) if models.availability(n)[0]]
    # transformers' lazy module is not safe to import from two threads at once (building the page imports it too:
    # "cannot import name 'AutoTokenizer'"), so resolve what loading needs here, before the thread starts.
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
    with _warm_lock:
        _warm.update({n: "" for n in names})

    def run():
        for n in names:
            t0 = time.perf_counter()
            try:
                lm = models.load(n)
                state = "ready"
            except Exception as exc:  # noqa: BLE001 - shown to whoever asks for the model
                state = f"{type(exc).__name__}: {exc}"
                log.warning("warm-up: %s failed after %.1f s: %s", n, time.perf_counter() - t0, state)
            else:
                try:
                    first_answer(lm)
                except Exception:  # noqa: BLE001 - the model loaded; its first real answer will say what is wrong
                    log.exception("warm-up: %s loaded, but its one-token warm-up answer failed", n)
                log.info("warm-up: %s ready in %.1f s", n, time.perf_counter() - t0)
            with _warm_lock:
                _warm[n] = state
    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread


def first_answer(lm) -> None:
    """Generate one token: the first answer's one-time costs (the sampler's modules imported, llama.cpp's compute
    graph allocated; 1.2 s on 2 cores) are paid here rather than by the first visitor, and the loads after this
    one no longer hold Python's import locks that the first answer would wait on."""
    from llm_demo import engine
    from llm_demo.sampling import SamplingConfig
    prompt = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": "Hi"}])
    engine.generate(lm, prompt, SamplingConfig(max_new_tokens=1))


def warming() -> list[str]:
    """Names still loading in the background."""
    with _warm_lock:
        return [n for n, state in _warm.items() if state == ""]


def warm_note() -> str:
    """One line while the default models load ("warming up"), else ""."""
    busy = warming()
    return (f"⏳ Warming up: loading {', '.join(models.REGISTRY[n].label if n in models.REGISTRY else n for n in busy)}. "
            "The first answer starts as soon as it is ready." if busy else "")
