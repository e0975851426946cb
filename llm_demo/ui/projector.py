"""Projector mode: large type and high contrast for a room reading from the back; Plotly plots follow.

All client-side (nothing per visitor on the server): the toggle's `js` adds a class to <html> (the CSS below) and
re-lays-out every Plotly plot with bigger fonts, black text and darker grid lines; plots drawn later (a new answer,
a new plan) get the same treatment as Gradio draws them, and switching off restores each plot's own layout.
"""
import json

import gradio as gr

FONT, TITLE, TICKS = 20, 24, 18  # px in projector mode (Plotly's default is 12)
GROW = 1.25                      # plots get this much taller, so bigger labels and legends still fit

CSS = """
:root.projector { --text-xxs: 13px; --text-xs: 15px; --text-sm: 18px; --text-md: 21px; --text-lg: 24px;
  --text-xl: 28px; --text-xxl: 34px; --body-text-size: 21px; --prose-text-size: 21px; --input-text-size: 21px;
  --block-label-text-size: 18px; --block-info-text-size: 17px; --section-header-text-size: 20px;
  --body-text-color: #000; --body-text-color-subdued: #111; --block-label-text-color: #000;
  --block-info-text-color: #111; --block-title-text-color: #000; --input-placeholder-color: #333;
  --border-color-primary: #000; --input-border-color: #000; --block-border-color: #000;
  --background-fill-primary: #fff; --background-fill-secondary: #fff; --block-background-fill: #fff;
  --input-background-fill: #fff; --link-text-color: #0033aa; }
:root.projector .prose, :root.projector .md { font-size: 21px !important; color: #000 !important; }
:root.projector .prose h2 { font-size: 34px !important; }
:root.projector .prose h3 { font-size: 27px !important; }
:root.projector .tokview { font-size: 28px !important; line-height: 1.7 !important; }
:root.projector .tokview sub { font-size: 15px !important; color: #000 !important; }
:root.projector .tokcounts, :root.projector .tokcounts b { font-size: 24px !important; color: #000 !important; }
:root.projector textarea, :root.projector input { font-size: 21px !important; color: #000 !important; }
:root.projector button[role="tab"] { font-size: 21px !important; color: #000 !important; }
"""

# One idempotent setup, then switch. Runs in the browser as the toggle's `js` (the toggle also changes when a
# link says ?projector=1, so the same code runs then).
JS = """(on) => {
  if (!window.llmProjector) {
    const style = document.createElement('style');
    style.id = 'llm-projector-css';
    style.textContent = %(css)s;
    document.head.appendChild(style);
    const get = (o, path) => path.replace(/\\[(\\d+)\\]/g, '.$1').split('.')
      .reduce((x, k) => (x == null ? undefined : x[k]), o);
    const big = (gd) => {
      const u = {'font.size': %(font)d, 'font.color': '#000', 'title.font.size': %(title)d,
                 'title.font.color': '#000', 'legend.font.size': %(ticks)d,
                 'height': Math.round((gd.layout.height || 450) * %(grow)s)};   // room for the bigger text
      if (typeof gd.layout.title === 'string') {            // as for the axes below
        delete u['title.font.size'];
        u['title'] = {text: gd.layout.title, font: {size: %(title)d}};
      }
      for (const ax of Object.keys(gd._fullLayout || {}).filter((k) => /^[xy]axis\\d*$/.test(k))) {
        Object.assign(u, {[ax + '.tickfont.size']: %(ticks)d, [ax + '.tickfont.color']: '#000',
                          [ax + '.gridcolor']: '#888', [ax + '.linecolor']: '#000'});
        // A title written as a plain string (figures built as plain dicts, e.g. inside_plots.py) has no
        // .font to set: Plotly throws "container is not an object". Replace the whole title instead.
        const t = get(gd.layout, ax + '.title');
        if (typeof t === 'string') u[ax + '.title'] = {text: t, font: {size: %(font)d}};
        else u[ax + '.title.font.size'] = %(font)d;
      }
      (gd.layout.annotations || []).forEach((a, i) => { u['annotations[' + i + '].font.size'] = %(ticks)d; });
      return u;
    };
    const apply = (gd, on) => {
      if (!window.Plotly || !gd.layout) return;
      if (on) {
        if (gd.__llmOrig && get(gd.layout, 'font.size') === %(font)d) return;   // already big
        const u = big(gd), orig = {};
        for (const k of Object.keys(u)) { const v = get(gd.layout, k); orig[k] = v === undefined ? null : v; }
        gd.__llmOrig = orig;
        // one plot that cannot be restyled must not stop the others (forEach would end at the throw)
        try { window.Plotly.relayout(gd, u); } catch (e) { console.warn('projector mode: plot left as is', e); }
      } else if (gd.__llmOrig) {
        const orig = gd.__llmOrig;
        gd.__llmOrig = null;
        try { window.Plotly.relayout(gd, orig); } catch (e) { console.warn('projector mode: plot left as is', e); }
      }
    };
    const hook = (gd) => {
      if (gd.__llmHooked || typeof gd.on !== 'function') return;
      gd.__llmHooked = true;   // Gradio redraws a plot with Plotly.react when its value changes: follow it
      gd.on('plotly_afterplot', () => { if (window.llmProjectorOn) apply(gd, true); });
      if (window.llmProjectorOn) apply(gd, true);
    };
    new MutationObserver(() => document.querySelectorAll('.js-plotly-plot').forEach(hook))
      .observe(document.body, {childList: true, subtree: true});
    window.llmProjector = (on) => {
      window.llmProjectorOn = !!on;
      document.documentElement.classList.toggle('projector', !!on);
      document.querySelectorAll('.js-plotly-plot').forEach((gd) => { hook(gd); apply(gd, !!on); });
    };
  }
  window.llmProjector(on);
}""" % {"css": json.dumps(CSS.strip()), "font": FONT, "title": TITLE, "ticks": TICKS, "grow": GROW}


def projector_toggle() -> gr.Checkbox:
    """The toggle: large type and high contrast (also `?projector=1`)."""
    box = gr.Checkbox(False, label="Projector mode (large type, high contrast)", elem_id="projector-toggle",
                      container=False, scale=0, min_width=320)
    box.change(None, box, None, js=JS, api_visibility="private")
    return box
