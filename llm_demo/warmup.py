"""Warm start: the app serves at once while the default models load in a background thread; the Chat and Compare
tabs say "warming up" until they are ready (a request for a model that is still loading simply waits for it)."""
import threading

from llm_demo import models

_warm: dict[str, str] = {}          # model name -> "" while loading, "ready", or why it failed
_warm_lock = threading.Lock()


def warm_up(names: list[str]) -> threading.Thread:
    """Load these models in a background thread (the app serves at once; a request for one of them waits for
    its load, which happens only once)."""
    names = [n for n in dict.fromkeys(names) if models.availability(n)[0]]
    with _warm_lock:
        _warm.update({n: "" for n in names})

    def run():
        for n in names:
            try:
                models.load(n)
                state = "ready"
            except Exception as exc:  # noqa: BLE001 - shown to whoever asks for the model
                state = f"{type(exc).__name__}: {exc}"
            with _warm_lock:
                _warm[n] = state
    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread


def warming() -> list[str]:
    """Names still loading in the background."""
    with _warm_lock:
        return [n for n, state in _warm.items() if state == ""]


def warm_note() -> str:
    """One line while the default models load ("warming up"), else ""."""
    busy = warming()
    return (f"⏳ Warming up: loading {', '.join(models.REGISTRY[n].label if n in models.REGISTRY else n for n in busy)}. "
            "The first answer starts as soon as it is ready." if busy else "")
