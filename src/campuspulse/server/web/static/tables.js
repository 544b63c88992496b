// Tables marked data-tools get a search box, sortable headers and a CSV export of the rows shown, and keep them
// across live refreshes of the page's figures.
(() => {
  const state = {}; // table id → {query, column, descending}

  const cellText = (cell) => (cell ? cell.innerText.trim() : "");
  const asNumber = (text) => {
    const m = text.replace(/,/g, "").match(/^-?\d+(\.\d+)?/);
    return m ? parseFloat(m[0]) : null;
  };
  const csvCell = (text) => {
    const safe = /^[=+\-@\t\r]/.test(text) ? "'" + text : text;
    return /[",\n]/.test(safe) ? '"' + safe.replace(/"/g, '""') + '"' : safe;
  };

  function apply(table) {
    const s = state[table.id] || {};
    const body = table.tBodies[0];
    if (!body) return;
    const rows = Array.from(body.rows);
    if (s.column !== undefined) {
      rows.sort((a, b) => {
        const x = cellText(a.cells[s.column]), y = cellText(b.cells[s.column]);
        const nx = asNumber(x), ny = asNumber(y);
        const order = nx !== null && ny !== null ? nx - ny : x.localeCompare(y, "zh-CN");
        return s.descending ? -order : order;
      });
      rows.forEach((r) => body.appendChild(r));
    }
    const q = (s.query || "").toLowerCase();
    rows.forEach((r) => { r.hidden = q !== "" && !r.innerText.toLowerCase().includes(q); });
    table.querySelectorAll("thead th").forEach((th, i) => {
      th.setAttribute("aria-sort", i === s.column ? (s.descending ? "descending" : "ascending") : "none");
    });
  }

  function exportCsv(table) {
    const lines = [];
    const head = Array.from(table.tHead.rows[0].cells).map((c) => csvCell(cellText(c)));
    lines.push(head.join(","));
    Array.from(table.tBodies[0].rows).filter((r) => !r.hidden).forEach((r) => {
      lines.push(Array.from(r.cells).map((c) => csvCell(cellText(c))).join(","));
    });
    const blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = (table.dataset.file || table.id || "table") + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  function enhance(table) {
    if (!table.id || table.dataset.enhanced) return;
    table.dataset.enhanced = "1";
    const s = (state[table.id] = state[table.id] || {});
    const bar = document.createElement("div");
    bar.className = "table-tools";
    const search = document.createElement("input");
    search.type = "search";
    search.placeholder = table.dataset.labelSearch || "Search";
    search.value = s.query || "";
    search.addEventListener("input", () => { s.query = search.value; apply(table); });
    const csv = document.createElement("button");
    csv.type = "button";
    csv.textContent = table.dataset.labelCsv || "CSV";
    csv.addEventListener("click", () => exportCsv(table));
    bar.append(search, csv);
    (table.closest(".scroll") || table).before(bar);
    table.querySelectorAll("thead th").forEach((th, i) => {
      if (!cellText(th)) return;
      th.classList.add("sortable");
      th.addEventListener("click", () => {
        s.descending = s.column === i ? !s.descending : true;
        s.column = i;
        apply(table);
      });
    });
    apply(table);
  }

  const all = () => document.querySelectorAll("table[data-tools]").forEach(enhance);
  document.addEventListener("DOMContentLoaded", all);
  new MutationObserver(all).observe(document.body || document.documentElement, { childList: true, subtree: true });
})();
