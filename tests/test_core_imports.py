"""The import graph of llm_demo/, read with `ast` (module-level and function-level imports alike): no circle, and
the layers hold (the core never imports Gradio, ui or training; benchmarks import the core, not ui; only *_plots.py
and ui build Plotly figures; only models names the concrete backends)."""
import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "llm_demo"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def imports_of(name: str) -> set[str]:
    """Every module name `name` imports anywhere in its file (relative imports resolved; `from a import b` counts as
    a.b when a.b is a module of ours, else as a)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return found


GRAPH = {m: {d for d in imports_of(m) if d in MODULES and d not in (m, "llm_demo")} for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as [a, b, ..., a], or [] when there is none (depth-first search, colours white/grey/black)."""
    colour, stack = {m: 0 for m in graph}, []

    def visit(m):
        colour[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if colour[d] == 1:
                return stack[stack.index(d):] + [d]
            if colour[d] == 0 and (cycle := visit(d)):
                return cycle
        stack.pop()
        colour[m] = 2
        return []

    for m in sorted(graph):
        if colour[m] == 0 and (cycle := visit(m)):
            return cycle
    return []


def test_the_cycle_finder_finds_a_planted_circle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(planted) == ["a", "b", "c", "a"], "the checker itself must see a circle"
    assert find_cycle({"a": {"b"}, "b": set()}) == [], "a chain is no circle"


def test_the_import_reader_sees_function_level_imports():
    assert "llm_demo.remote" in GRAPH["llm_demo.models"], "models imports remote inside functions: the reader missed it"
    assert len(MODULES) > 60, f"only {len(MODULES)} modules found under {PKG}"


def test_the_import_graph_of_llm_demo_has_no_circle():
    cycle = find_cycle(GRAPH)
    assert not cycle, "import circle: " + " -> ".join(cycle)


def _core(m: str) -> bool:
    return not m.startswith(("llm_demo.ui", "llm_demo.training", "llm_demo.bench"))


def _offenders(who, imported) -> list[str]:
    return sorted(f"{m} imports {d}" for m in MODULES if who(m) for d in imports_of(m) if imported(d))


def test_only_ui_imports_gradio_or_ui():
    bad = _offenders(lambda m: not m.startswith("llm_demo.ui"),
                     lambda d: d.split(".")[0] == "gradio" or d.startswith("llm_demo.ui"))
    assert not bad, "outside llm_demo/ui: " + "; ".join(bad)


def test_the_core_never_imports_training():
    bad = _offenders(_core, lambda d: d.startswith("llm_demo.training"))
    assert not bad, "core modules importing the training pipeline: " + "; ".join(bad)


def test_benchmarks_import_the_core_not_ui():
    bad = _offenders(lambda m: m.startswith("llm_demo.bench"), lambda d: d.startswith("llm_demo.ui"))
    assert not bad, "benchmarks importing ui: " + "; ".join(bad)


def test_only_plot_modules_and_ui_import_plotly():
    bad = _offenders(lambda m: not (m.endswith("_plots") or m.startswith("llm_demo.ui")),
                     lambda d: d.split(".")[0] == "plotly")
    assert not bad, "Plotly outside *_plots.py and ui: " + "; ".join(bad)


def test_only_models_names_the_concrete_backends():
    concrete = {"llm_demo.transformers_backend", "llm_demo.llamacpp", "llm_demo.remote"}
    users = ("llm_demo.engine", "llm_demo.batching", "llm_demo.chat", "llm_demo.compare", "llm_demo.backend")
    bad = _offenders(lambda m: m in users, lambda d: d in concrete)
    assert not bad, "the engine layer must call the backend protocol: " + "; ".join(bad)
    for m in users:
        text = MODULES[m].read_text()
        for word in ('"llama.cpp"', '"remote"', '"transformers"', ".backend =="):
            assert word not in text, f"{m} compares a backend by name ({word}): use backend.Backend instead"
