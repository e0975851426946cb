"""Lesson tab: the seed's sections in its order, each claim beside what the lab measures, a verdict, and a
"Show me" button that opens the tab that shows it with the inputs filled. The content is llm_demo/lesson.py."""
import html

import gradio as gr

from llm_demo import lesson, links

INTRO = """The seed text this lab is built from, section by section: what it claims, what the lab measures about
it (computed when this page was built, by the same code the other tabs run), and where it is wrong or simplified.
**Show me** opens the tab that demonstrates it, with the inputs filled in; nothing that writes text runs until
you press its button. Each section's **link** opens the same view from a slide."""
BADGES = {lesson.HOLDS: "✅ holds", lesson.SIMPLIFIED: "⚠️ simplified", lesson.WRONG: "❌ wrong as written"}
# Where Show me scrolls to when the demonstration sits below the top of its tab (element ids in the tabs).
SCROLL_TO = {"architecture": "scaling-params"}
TAB_NAMES = links.TAB_LABELS


def section_markdown(s: lesson.Section) -> str:
    shows = "\n".join(f"- {line}" for line in s.shows)
    verdict = f" {s.verdict}" if s.verdict else ""
    return (f"### {s.title}\n**The seed:** {s.claim}\n\n**The lab measures:**\n{shows}\n\n"
            f"**Verdict: {BADGES[s.kind]}.**{verdict}")


def build_lesson_tab() -> list[tuple[gr.Button, str, str]]:
    """The lesson's sections; returns each Show me button with the link query it opens and the element id to
    scroll to (app.py wires them through llm_demo/ui/links_ui.py)."""
    gr.Markdown("## Lesson: the seed, claim by claim")
    gr.Markdown(INTRO)
    shows = []
    for s in lesson.sections():
        with gr.Group(elem_classes="lesson-section"):
            gr.Markdown(section_markdown(s), elem_id=f"lesson-{s.key}", padding=True)
            with gr.Row(equal_height=True):
                btn = gr.Button(f"Show me in {TAB_NAMES.get(s.tab, s.tab)}", elem_id=f"lesson-show-{s.key}",
                                variant="primary", size="sm", scale=0, min_width=220)
                gr.HTML(f'<a class="lesson-link" href="{html.escape(s.link)}">🔗 link for slides</a>', padding=False)
        shows.append((btn, s.link, SCROLL_TO.get(s.key, f"{s.tab}-copy-link")))
    return shows
