// Refresh the page's figures without a reload when the server says new records have arrived (pages of a period
// that includes today only). A refresh waits while the user is typing in the page, and keeps what they opened.
(() => {
  const source = document.body.dataset.live;
  if (!source || !window.EventSource) return;
  const badge = document.getElementById("live");
  const events = new EventSource(source);
  let waiting = false;

  const typing = () => {
    const el = document.activeElement;
    return Boolean(el && el.closest && el.closest("#main") && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
  };

  async function refresh() {
    if (typing()) {
      waiting = true;
      return;
    }
    waiting = false;
    const answer = await fetch(window.location.href, { credentials: "same-origin" });
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById("main");
    const main = document.getElementById("main");
    if (!fresh || !main) return;
    const opened = Array.from(main.querySelectorAll("details")).map((d) => d.open);
    fresh.querySelectorAll("details").forEach((d, i) => { if (opened[i]) d.open = true; });
    // what the user typed in a form field and has not sent yet stays typed (fields by form and name: the boxes the
    // table tools add have no name and keep their own state)
    const key = (el) => (el.form ? el.form.getAttribute("action") || "" : "") + "|" + el.name;
    const typed = new Map();
    main.querySelectorAll("input[name], textarea[name]").forEach((el) => {
      if (el.value !== el.defaultValue) typed.set(key(el), el.value);
    });
    fresh.querySelectorAll("input[name], textarea[name]").forEach((el) => {
      if (typed.has(key(el))) el.value = typed.get(key(el));
    });
    main.replaceWith(fresh);
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  }

  events.addEventListener("changed", refresh);
  document.addEventListener("focusout", () => { if (waiting) setTimeout(refresh, 0); });
  events.onerror = () => badge && badge.classList.add("stale");
  events.onopen = () => badge && badge.classList.remove("stale");
})();
