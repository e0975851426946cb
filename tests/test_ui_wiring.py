"""The tabs' handlers return {name: value}; `by_name` maps the names to the components an event updates.
Built once as the app is, then the cheap handlers are called through the events Gradio would run."""
import gradio as gr
import pytest

from llm_demo.ui.common import by_name


def test_by_name_maps_names_to_components_and_refuses_unknown_names():
    with gr.Blocks():
        a, b = gr.Textbox(), gr.Number()
    plain = by_name(lambda: {"a": "x"}, {"a": a, "b": b})
    assert plain() == {a: "x"}, "a name left out must not be sent (Gradio keeps that component as it is)"

    def stream():
        yield {"a": "1", "b": 1}
        yield {"b": 2}
    wired = by_name(stream, {"a": a, "b": b})
    assert list(wired()) == [{a: "1", b: 1}, {b: 2}], "a generator handler must stay a generator"
    with pytest.raises(KeyError, match="c"):
        by_name(lambda: {"c": 1}, {"a": a})()


def events(demo, name):
    found = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == name]
    assert found, f"no event runs {name}"
    return found


def test_every_cheap_handler_returns_only_names_its_event_outputs(demo):
    """A name the build_*() function did not wire raises KeyError here, not in front of a class."""
    calls = {"clear_chat": (), "stop_run": (None,), "show_sampler": ([],), "_mode_visibility": ("model size N",),
             "send_to_planner": (50257, 768, 12, 12, 1024, True)}
    for name, args in calls.items():
        for fn in events(demo, name):
            out = fn.fn(*args)
            outputs = {id(c) for c in fn.outputs}
            assert out and all(id(c) in outputs for c in out), f"{name} updated a component its event does not list"
    plan = next(f for f in demo.fns.values() if f.api_name == "scaling_plan")
    out = plan.fn("compute budget (FLOPs)", "1e21", "H100", 500, 8, 720, 0.4, 2.5, "1B", "chinchilla-3", "2e12")
    assert len(out) == len(plan.outputs), "the planner must refresh every one of its outputs"


def test_a_refusal_is_one_log_line_and_a_fault_keeps_its_traceback(caplog):
    import logging

    from llm_demo.ui.common import friendly

    @friendly
    def refuse():
        raise ValueError("Top-p must be in (0, 1].")

    @friendly
    def bug():
        return {}["missing"]

    caplog.set_level(logging.INFO, logger="llm_demo")
    with pytest.raises(gr.Error) as refused:
        refuse()
    assert refused.value.message == "Top-p must be in (0, 1]." and refused.value.print_exception is False, \
        "a refusal must not print a traceback to the server log"
    assert [(r.levelname, r.exc_info) for r in caplog.records] == [("INFO", None)], caplog.records
    caplog.clear()
    with pytest.raises(gr.Error) as fault:
        bug()
    assert fault.value.message.startswith("Something went wrong (KeyError"), "a KeyError of ours is a fault"
    assert len(caplog.records) == 1 and caplog.records[0].exc_info, "a fault must log its traceback once"


def test_the_public_api_order_is_written_down(demo):
    """Every public endpoint whose handler returns {name: value} sends its outputs in the order its tab's
    API_OUTPUTS writes down (not in the order some dict of components happened to be built), takes one input per
    parameter of its handler, and every endpoint written down exists."""
    import inspect

    from llm_demo import config
    from llm_demo.ui import arena_panel, branch_panel, chat_tab, compare_tab, inside_tab, scaling_tab, tokenizer_tab
    declared = {}
    for tab in (arena_panel, branch_panel, chat_tab, compare_tab, inside_tab, scaling_tab, tokenizer_tab):
        assert not declared.keys() & tab.API_OUTPUTS.keys(), f"{tab.__name__} declares an endpoint twice"
        declared |= tab.API_OUTPUTS
    named = [f for f in demo.fns.values() if f.api_name and f.api_visibility == "public"
             and hasattr(f.fn, "output_names")]
    assert len(named) >= 20, f"only {len(named)} public endpoints return names: the check reads the wrong attribute"
    for f in named:
        assert f.api_name in declared, f"/{f.api_name} returns names, but no API_OUTPUTS says its output order"
        names = declared[f.api_name]
        assert f.fn.output_names == names, f"/{f.api_name} is wired with {f.fn.output_names}, declared {names}"
        assert [id(c) for c in f.outputs] == [id(f.fn.output_map[n]) for n in names], \
            f"/{f.api_name}'s outputs are not in its declared order"
        params = [p for p in inspect.signature(f.fn).parameters.values()
                  if p.annotation is not gr.Request and not isinstance(p.default, gr.Progress)]
        assert len(params) == len(f.inputs), f"/{f.api_name}: {len(f.inputs)} inputs for {[p.name for p in params]}"
    built = {f.api_name for f in demo.fns.values()}
    teacher = {"teacher_reset"} if not (config.CLASS_DB and config.TEACHER_TOKEN) else set()
    assert not set(declared) - built - teacher, f"declared but never wired: {set(declared) - built - teacher}"
