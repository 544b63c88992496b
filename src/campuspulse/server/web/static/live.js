// Refresh the page's figures without a reload when the server says new records have arrived.
(() => {
  const source = document.body.dataset.live;
  if (!source || !window.EventSource) return;
  const badge = document.getElementById("live");
  const events = new EventSource(source);
  events.addEventListener("changed", async () => {
    const answer = await fetch(window.location.href, { credentials: "same-origin" });
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById("main");
    if (fresh) document.getElementById("main").replaceWith(fresh);
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  });
  events.onerror = () => badge && badge.classList.add("stale");
  events.onopen = () => badge && badge.classList.remove("stale");
})();
