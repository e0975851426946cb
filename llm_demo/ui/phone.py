"""Phone layout (a 390 px wide screen): the page's own CSS, passed to `demo.launch(css=...)` in app.py (Gradio 6 takes
CSS at launch, not in gr.Blocks). The phone's rules sit under one media query, so wider screens are laid out as
before, but for two that hold at every width (the page's side padding, unbroken words in tables);
tests/test_phone_browser.py checks each tab at 390 × 844."""

PHONE_MAX_PX = 640      # Gradio's own first breakpoint (its .app grows from 640 px): below it, a phone

CSS = f"""
/* Gradio pads the page 32 px each side (an eighth of a phone). Gradio scopes the rules inside a media query to its own
   container, which the page's padding box is outside of, so this one stands alone: 32 px from 640 px up (as before),
   falling to 8 px at 616 px and below. */
.gradio-container .app {{ padding-left: clamp(8px, calc(100vw - 608px), 32px) !important;
  padding-right: clamp(8px, calc(100vw - 608px), 32px) !important; }}
/* Markdown tables: Gradio lets text break anywhere, so a squeezed table read "tok/ens/pa/ra/m" (at 390 px, and
   "approac/h" at 820). Words in a table break at spaces and hyphens only; a table too wide scrolls (below). */
.prose table th, .prose table td {{ overflow-wrap: normal; word-break: normal; }}
@media (max-width: {PHONE_MAX_PX - 1}px) {{
  /* Plotly's toolbar sits over a plot's label and title on a narrow plot; pinch and drag still zoom and pan. */
  .js-plotly-plot .modebar-container {{ display: none !important; }}
  /* Tables: smaller type and cells, so five or six columns of numbers fit without a sideways scroll. */
  .table-wrap table, .table-wrap .cell-wrap {{ font-size: 11px; }}
  .table-wrap .cell-wrap {{ padding: 4px; }}
  /* A Markdown table wider than the screen (the Scaling tab's fits: 7 or 8 columns) scrolls sideways inside its own
     box, the page does not; each column at least ~7 characters wide, so an interval "[0.07, 1.00]" is two lines. */
  .prose table {{ display: block; width: max-content; max-width: 100%; overflow-x: auto; padding: 0; }}
  .prose table th, .prose table td {{ min-width: 6.5em; padding: 6px 8px; }}
  /* Compare: each answer box at most ~10 lines (it scrolls inside), so the next column's answer is near. */
  #compare-columns textarea {{ max-height: 14em !important; overflow-y: auto !important; }}
  /* Chat: a shorter conversation, so the message box, the buttons and the knobs follow within a screen. */
  #chat-conversation {{ height: 300px !important; max-height: 300px !important; }}
}}
"""

# A Plotly title never wraps and a legend on the right takes a third of a phone's plot: on a plot narrower than
# PHONE_MAX_PX, break a long title into lines that fit (at spaces, from the title's font size) and move a side legend
# under the plot. A figure that carries its own phone version in layout.meta.phone (the Inside tab's logit lens,
# inside_plots.lens_phone_figure) is replaced by it. Plotly.react replaces the layout when Gradio draws a new
# figure, so this runs after every draw; it is idempotent (a wrapped title has <br>, a moved legend is horizontal,
# the phone version has no meta), so its own relayout stops there.
JS = """() => {
  const fit = (gd) => {
    const w = gd.clientWidth;
    if (!window.Plotly || !gd.layout || !w || w >= %(phone)d) return;
    const phone = gd.layout.meta && gd.layout.meta.phone;
    if (phone) {
      Promise.resolve(window.Plotly.react(gd, phone.data, phone.layout))
        .catch((e) => console.warn('phone layout: plot left as is', e));
      return;
    }
    const u = {}, t = gd.layout.title, text = typeof t === 'string' ? t : t && t.text;
    const size = (t && t.font && t.font.size) || 17, per = Math.max(12, Math.floor((w - 24) / (size * 0.55)));
    if (text && !text.includes('<br>') && text.length > per) {
      const lines = [''];
      for (const word of text.split(' ')) {
        const last = lines[lines.length - 1];
        if (last && (last + ' ' + word).length > per) lines.push(word);
        else lines[lines.length - 1] = last ? last + ' ' + word : word;
      }
      if (typeof t === 'string') u['title'] = {text: lines.join('<br>')};
      else u['title.text'] = lines.join('<br>');
      const margin = gd.layout.margin && gd.layout.margin.t != null ? gd.layout.margin.t : 100;   // Plotly's default
      u['margin.t'] = Math.round(margin + (lines.length - 1) * size * 1.3);     // room for the added lines
    }
    const legend = gd.layout.legend || {};
    if (gd.layout.showlegend !== false && legend.orientation !== 'h' && gd.data.length > 1) {
      Object.assign(u, {'legend.orientation': 'h', 'legend.x': 0, 'legend.xanchor': 'left', 'legend.y': -0.3,
                        'legend.yanchor': 'top'});
    }
    if (Object.keys(u).length) {
      try { window.Plotly.relayout(gd, u); } catch (e) { console.warn('phone layout: plot left as is', e); }
    }
  };
  const hook = (gd) => {
    if (gd.__llmPhone || typeof gd.on !== 'function') return;
    gd.__llmPhone = true;
    gd.on('plotly_afterplot', () => fit(gd));
    fit(gd);
  };
  new MutationObserver(() => document.querySelectorAll('.js-plotly-plot').forEach(hook))
    .observe(document.body, {childList: true, subtree: true});
}""" % {"phone": PHONE_MAX_PX}
