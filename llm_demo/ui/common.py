"""Shared UI glue: turn exceptions from the core into short messages a student can read."""
import functools
import inspect
import logging
import gradio as gr

log = logging.getLogger("llm_demo")


def _to_gr_error(exc: Exception) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, (ValueError, TypeError, KeyError)):
        return gr.Error(str(exc).strip("'\"") or type(exc).__name__)
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
