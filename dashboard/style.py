"""The console's few style rules: a denser page, a dense Inbox queue, one download button.

Only the console's own CSS goes through ``st.html`` (a ``<style>`` alone takes no space on the
page); no outside text is ever rendered as HTML.
"""

import streamlit as st

CSS = """
<style>
/* Less empty space around the page: wide tables and the Inbox fit at 1280x800. */
[data-testid="stMainBlockContainer"] { padding: 2.2rem 2rem 3rem 2rem !important; }
/* The Export preview: the page's own button downloads the file (the grid's icon would
   download only the preview's 20 rows). */
.st-key-ex_preview button[aria-label="Download as CSV"] { display: none; }
/* The Inbox queue: one row per question, two lines of text cut with an ellipsis (the whole
   question is in the pane beside it). */
.st-key-inbox_list { gap: 0.2rem !important; }
div[class*="st-key-row_"] { flex-wrap: nowrap !important; gap: 0.45rem !important; }
div[class*="st-key-row_"] > div:last-child { min-width: 0 !important; flex: 1 1 0 !important; }
div[class*="st-key-row_"] [data-testid="stText"] span {
  display: block !important; white-space: pre !important; overflow: hidden !important;
  text-overflow: ellipsis !important; font-size: 0.84rem !important; line-height: 1.3 !important;
}
div[class*="st-key-open_"] button { min-height: 2.1rem !important; padding: 0.15rem 0.5rem !important; }
div[class*="st-key-open_"] button p { font-size: 0.8rem !important; }
/* The selected question: its head, case and question each of a fixed height (the whole case
   is in the pane's "The case"), so the answer box is in the same place for every question. */
div.st-key-inbox_question { height: 6.6rem !important; overflow-y: auto !important; }
div.st-key-inbox_head { flex-wrap: nowrap !important; height: 1.9rem !important; overflow: hidden !important; }
div.st-key-inbox_head > div { flex-shrink: 0 !important; }
div.st-key-inbox_head > div:last-child { min-width: 0 !important; flex-shrink: 1 !important; }
div.st-key-inbox_head p, div.st-key-inbox_head span, div.st-key-inbox_caseline span {
  white-space: nowrap !important; overflow: hidden !important; text-overflow: ellipsis !important;
}
div.st-key-inbox_caseline span { display: block !important; }
/* Who else is on a question: written in by the Inbox's key script (dashboard/keys.js). */
div[class*="st-key-row_"] [data-testid="stText"] span[data-presence]::before {
  content: "[" attr(data-presence) "] "; font-weight: 600;
}
div.st-key-inbox_head[data-presence]::after {
  content: attr(data-presence); font-weight: 600; font-size: 0.85rem; white-space: nowrap;
  order: 1;
}
div.st-key-inbox_head > div:last-child { order: 2; }
/* What was just sent: one line, cut with an ellipsis; "See it whole" always in view. */
div.st-key-inbox_last_line { flex-wrap: nowrap !important; }
div.st-key-inbox_last_line > div:first-child { min-width: 0 !important; flex: 1 1 0 !important; }
div.st-key-inbox_last_line > div:last-child { flex-shrink: 0 !important; }
div.st-key-inbox_last_line p {
  white-space: nowrap !important; overflow: hidden !important; text-overflow: ellipsis !important;
}
/* Toasts at the bottom, where they cover neither Search nor Order. */
[data-testid="stToastContainer"] { top: auto !important; bottom: 1rem !important; }
</style>
"""


def apply() -> None:
    st.html(CSS)
