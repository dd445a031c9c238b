// The Inbox's keys and typing signal: a small Streamlit v2 component (no iframe, no UI of
// its own). It reads nothing but the console's own elements and sends back only the
// operator's own draft: which question, its text, and when.
//
//   Ctrl+Enter / Cmd+Enter in an answer box   send it (the box's text is committed first)
//   Alt+Down / Alt+Up, or j / k outside a box  the next / previous question in the queue
//   Escape in an answer box                    leave the box (then j / k move)
//
// After the selection changes (a send, a key, a click on a row) the selected question's box
// gets the focus, unless the operator is in another field.
export default function ({ data, setStateValue }) {
  const keys = window.__offloadInboxKeys || (window.__offloadInboxKeys = {});
  keys.setStateValue = setStateValue;
  const selected = (data && data.selected) || null;
  if (selected !== keys.focused) {
    keys.focused = selected;
    if (selected) focusBox(selected);
  }
  keys.presence = (data && data.presence) || {};
  keys.selected = selected;
  showPresence(keys);
  if (keys.handlers) {
    return keys.cleanup;
  }
  // A redraw of the page makes new row elements: write the presence in again.
  const observer = new MutationObserver(() => showPresence(keys));
  observer.observe(document.body, { childList: true, subtree: true });
  const requestOf = (element) => {
    const holder = element && element.closest && element.closest('[class*="st-key-answer_"]');
    const match = holder && holder.className.match(/st-key-answer_(\S+)/);
    return match ? match[1] : null;
  };
  const editable = (element) =>
    element && (element.tagName === "TEXTAREA" || element.tagName === "INPUT" ||
      element.isContentEditable);
  const rows = () => [...document.querySelectorAll('[class*="st-key-open_"] button')];
  const move = (step) => {
    const all = rows();
    const at = all.findIndex((b) => b.getAttribute("data-testid") === "stBaseButton-primary");
    const next = all[Math.min(Math.max(at + step, 0), all.length - 1)];
    if (next && at >= 0 && next !== all[at]) {
      next.scrollIntoView({ block: "nearest" });
      next.click();
    }
  };
  let timer = null;
  let last = 0;
  const report = (request, text) => {
    clearTimeout(timer);
    const send = () => {
      last = Date.now();
      keys.setStateValue("draft", { request, text, at: last });
    };
    // At most one report a second while typing, and one when the typing stops.
    if (Date.now() - last > 1000) send();
    else timer = setTimeout(send, 1000);
  };
  const onKey = (event) => {
    const target = event.target;
    const request = requestOf(target);
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const bulk = target && target.closest && target.closest(".st-key-bulk_answer");
      const button = request
        ? document.querySelector(`.st-key-send_${CSS.escape(request)} button`)
        : bulk && document.querySelector(".st-key-bulk_send button");
      // Streamlit's own handler commits the text on this key; the click follows it.
      if (button) setTimeout(() => button.click(), 0);
      return;
    }
    if (event.altKey && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      move(event.key === "ArrowDown" ? 1 : -1);
      return;
    }
    if (request && event.key === "Escape") {
      target.blur();
      return;
    }
    if (!editable(target) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      if (event.key === "j") move(1);
      if (event.key === "k") move(-1);
    }
  };
  const onInput = (event) => {
    const request = requestOf(event.target);
    if (request && event.target.tagName === "TEXTAREA") report(request, event.target.value);
  };
  document.addEventListener("keydown", onKey, true);
  document.addEventListener("input", onInput, true);
  keys.handlers = true;
  keys.cleanup = () => {
    observer.disconnect();
    document.removeEventListener("keydown", onKey, true);
    document.removeEventListener("input", onInput, true);
    clearTimeout(timer);
    delete window.__offloadInboxKeys;
  };
  return keys.cleanup;
}

function focusBox(request) {
  const started = Date.now();
  const tryFocus = () => {
    const active = document.activeElement;
    const busyElsewhere =
      active && (active.tagName === "INPUT" ||
        (active.tagName === "TEXTAREA" && !active.closest('[class*="st-key-answer_"]')));
    if (busyElsewhere) return;
    const box = document.querySelector(`.st-key-answer_${CSS.escape(request)} textarea`);
    if (box && !box.disabled) {
      if (active !== box) box.focus({ preventScroll: true });
      return;
    }
    // A loaded server may take a while to draw the new box; a newer selection ends the wait.
    const keys = window.__offloadInboxKeys;
    if (keys && keys.focused === request && Date.now() - started < 30000) {
      setTimeout(tryFocus, 100);
    }
  };
  tryFocus();
}

// Who else is on each question, as a data-presence attribute the page's CSS shows before the
// row's text and in the pane's head (an attribute is text: nothing in it is markup).
function showPresence(keys) {
  const set = (element, words) => {
    if (!element) return;
    if (words) {
      if (element.getAttribute("data-presence") !== words) element.setAttribute("data-presence", words);
    } else if (element.hasAttribute("data-presence")) {
      element.removeAttribute("data-presence");
    }
  };
  for (const row of document.querySelectorAll('[class*="st-key-row_"]')) {
    const match = row.className.match(/st-key-row_(\S+)/);
    const words = match ? keys.presence[match[1]] : null;
    set(row.querySelector('[data-testid="stText"] span'), words || null);
  }
  set(document.querySelector(".st-key-inbox_head"), keys.presence[keys.selected] || null);
}
