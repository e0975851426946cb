"""Shared UI glue: turn exceptions from the core into short messages a student can read."""
import functools
import inspect
import math
import logging
import gradio as gr

from llm_demo import chat, chat_plots, models, turns
from llm_demo.sampling import SamplingConfig
from llm_demo.tokenization import replace_surrogates, surrogate_note

log = logging.getLogger("llm_demo")
# Compare's and the arena's answer columns: four side by side at 1280 px (Gradio's default 320 px minimum put the
# fourth on a second row); narrower screens still wrap them.
ANSWER_MIN_WIDTH = 240


def _to_gr_error(exc: Exception) -> gr.Error:
    """A refusal (ValueError, or a gr.Error of ours) becomes its sentence, logged in one line. Anything else is a
    fault, TypeError and KeyError included (from our own code they are bugs): its traceback goes to the log and
    the user reads that something went wrong, not that their input was wrong."""
    if isinstance(exc, gr.Error):
        exc.print_exception = False
        log.info("refused: %s", str(exc.message)[:200])
        return exc
    if isinstance(exc, ValueError):
        text = str(exc) or "That input was refused."
        log.info("refused: %s", text[:200])
        return gr.Error(text if len(text) <= 500 else text[:500] + "…", print_exception=False)  # no echoed walls
    log.exception("handler failed")
    return gr.Error(f"Something went wrong ({type(exc).__name__}: {str(exc)[:200]}). The app is still running.",
                    print_exception=False)


def _writable(value, found: list):
    """The value with lone surrogates replaced in every string, also inside lists and dicts (a chat history);
    `found` collects how many. A browser never sends them, an API caller can: they crash tokenizers."""
    if isinstance(value, str):
        text, n = replace_surrogates(value)
        found.append(n)
        return text
    if isinstance(value, list):
        return [_writable(v, found) for v in value]
    if isinstance(value, dict):
        return {k: _writable(v, found) for k, v in value.items()}
    return value


def clean_inputs(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Every handler's text made writable in UTF-8, said in one warning (as the Tokenizer tab says it)."""
    found = []
    args = tuple(_writable(a, found) for a in args)
    kwargs = {k: _writable(v, found) for k, v in kwargs.items()}
    if sum(found):
        log.info("input changed: %s", surrogate_note(sum(found)))
        gr.Warning(surrogate_note(sum(found)))
    return args, kwargs


def friendly(fn):
    """Wrap a handler (plain or generator) so any exception reaches the user as a gr.Error, and text with lone
    surrogates reaches it with U+FFFD in their place (and a warning that says so)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                args, kwargs = clean_inputs(args, kwargs)
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the point is to catch everything
                raise _to_gr_error(exc) from exc
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            args, kwargs = clean_inputs(args, kwargs)
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
        gen_wrapper.output_names, gen_wrapper.output_map = tuple(outputs), outputs
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return keyed(fn(*args, **kwargs))
    wrapper.output_names, wrapper.output_map = tuple(outputs), outputs   # read by tests/test_ui_wiring.py
    return wrapper


def one(fn, component):
    """A handler of one output as {component: value}, as by_name makes them (links_ui reruns views this way)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return {component: fn(*args, **kwargs)}
    return wrapper


def ordered(comps: dict, names: tuple) -> dict:
    """{name: component} in the order of `names`: an event's outputs (and so its API's) in an order written down,
    not in the order a dict of components happened to be built."""
    return {n: comps[n] for n in names}


def load_with_progress(name: str, progress) -> None:
    """Load a model with the one loading note in the progress bar when it is not loaded yet (seconds, once)."""
    if turns.needs_loading(name):
        progress(0, desc=turns.loading_note(name))
    models.load(name)


def sampler_view(steps: list, token: int | None = None) -> dict:
    """The sampler view of an answer's steps, on token number `token` (1-based; default the last):
    {tokens, step, plot}. No steps: an empty view with the slider back at its start."""
    if not steps:
        return dict(tokens=[], step=gr.update(maximum=2, value=1), plot=None)
    i = len(steps) if token is None else min(max(token, 1), len(steps))
    return dict(tokens=chat.prob_buckets(steps), step=gr.update(maximum=max(2, len(steps)), value=i),
                plot=chat_plots.sampler_figure(steps[i - 1]))


def sampling_config(temperature, top_k, top_p, rep, max_new, seed) -> SamplingConfig:
    """The UI's numbers as a config, checked here once for the whole request (API callers bypass sliders).
    Whole numbers typed as floats (5.0) become ints; anything else goes to SamplingConfig's check as it is."""
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
                          whole(num(seed, "Seed")))


# gr.Error's popup stays up for its duration (10 s), and popups of one kind stack ("Error (2)" listing the old one
# again): the next accepted input closes them, so an old refusal never sits over a good result (issue 27, item 20).
CLOSE_REFUSALS = ("() => document.querySelectorAll('[data-testid=\"toast-body\"].error [data-testid=\"toast-close\"]')"
                  ".forEach((b) => b.click())")
BLUR = "() => document.activeElement?.blur()"


def closes_refusals(event):
    """After `event` succeeds, close the refusal popups still shown (browser only, nothing runs on the server)."""
    event.success(None, None, None, js=CLOSE_REFUSALS, api_visibility="private", queue=False)
    return event


def engine_status(with_backend_note: bool = False) -> gr.Markdown:
    """A line that says "warming up" while the default models load in the background (re-read every second until
    they are ready) and, for the Chat tab, one line when GGUF models run on transformers instead of llama.cpp, or
    which weights llama.cpp answers from and why (models.weights_note)."""
    from llm_demo import warmup

    def note() -> str:
        backend = (models.llamacpp_note() or models.weights_note(models.DEFAULT_CHAT_MODEL)) if with_backend_note else ""
        return "\n\n".join(x for x in (warmup.warm_note(), backend and f"ℹ️ {backend}") if x)
    line = gr.Markdown(note, elem_classes=["engine-status"])
    timer = gr.Timer(1.0, active=bool(warmup.warming()))
    timer.tick(lambda: (note(), gr.Timer(active=bool(warmup.warming()))), None, [line, timer], api_name=False,
               concurrency_limit=None, show_progress="hidden")
    return line


def _quiet_bounds():
    """Gradio checks a slider's or number's range itself (an API caller can send 99 to a 1-4 slider) and raises
    gr.Error with print_exception on, so each such refusal printed a full traceback. As every other refusal: one
    log line. (gradio/components/number.py raise_if_out_of_bounds, used by Number and Slider preprocess.)"""
    original = gr.components.Number.raise_if_out_of_bounds

    def quiet(num, minimum, maximum):
        try:
            original(num, minimum, maximum)
        except gr.Error as exc:
            raise _to_gr_error(exc) from None
    gr.components.Number.raise_if_out_of_bounds = staticmethod(quiet)


_quiet_bounds()
