"""Shared UI glue: turn exceptions from the core into short messages a student can read."""
import functools
import inspect
import math
import logging
import gradio as gr

from llm_demo.sampling import SamplingConfig

log = logging.getLogger("llm_demo")


def _to_gr_error(exc: Exception) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, (ValueError, TypeError, KeyError)):
        text = (exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)) or type(exc).__name__
        return gr.Error(str(text) if len(str(text)) <= 500 else str(text)[:500] + "…")  # never a wall of echoed text
    log.exception("handler failed")
    return gr.Error(f"Something went wrong ({type(exc).__name__}: {exc}). The app is still running.")


def friendly(fn):
    """Wrap a handler (plain or generator) so any exception reaches the user as a gr.Error."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the point is to catch everything
                raise _to_gr_error(exc) from exc
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _to_gr_error(exc) from exc
    return wrapper


def by_name(fn, outputs: dict):
    """Wire a handler that returns (or yields) {name: value} to Gradio, which wants {component: value}.
    `outputs` maps those names to the event's output components (pass `list(outputs.values())` as the event's
    outputs). A name the handler leaves out keeps its component as it is; an unknown name is a bug (KeyError)."""
    def keyed(values: dict) -> dict:
        return {outputs[name]: value for name, value in values.items()}

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            for values in fn(*args, **kwargs):
                yield keyed(values)
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return keyed(fn(*args, **kwargs))
    return wrapper


def sampling_config(temperature, top_k, top_p, rep, max_new, seed) -> SamplingConfig:
    """The UI's numbers as a validated config (the engine validates again; API callers bypass sliders).
    Whole numbers typed as floats (5.0) become ints; anything else goes to validate() as it is."""
    def num(x, what):
        if isinstance(x, bool):
            raise ValueError(f"{what} must be a number, got {x!r}.")
        try:
            return float(x)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a number, got {x!r}.") from None

    def whole(x):
        return int(x) if math.isfinite(x) and x == int(x) else x
    return SamplingConfig(num(temperature, "Temperature"), whole(num(top_k, "Top-k")), num(top_p, "Top-p"),
                          num(rep, "Repetition penalty"), whole(num(max_new, "Max new tokens")),
                          whole(num(seed, "Seed"))).validate()
