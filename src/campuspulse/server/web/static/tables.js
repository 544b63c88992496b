// Tables marked data-tools get a search box, sortable headers and a CSV and an Excel export of the rows shown, and
// keep them across live refreshes of the page's figures.
(() => {
  const state = {}; // table id → {query, column, descending}

  // textContent, not innerText: a table inside a closed <details> still has its text
  const cellText = (cell) => (cell ? (cell.textContent || "").replace(/\s+/g, " ").trim() : "");
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
    rows.forEach((r) => { r.hidden = q !== "" && !cellText(r).toLowerCase().includes(q); });
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

  function shown(table) {
    const header = Array.from(table.tHead.rows[0].cells).map(cellText);
    const rows = Array.from(table.tBodies[0].rows).filter((r) => !r.hidden).map((r) => Array.from(r.cells).map(cellText));
    return { header, rows };
  }

  function exportXlsx(table) {
    // the server writes the workbook (numbers as numbers, percentages as percentages); the session's form token
    // goes with it, as with every form of the page
    const token = document.querySelector("input[name=csrf]");
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/ui/table.xlsx";
    const fields = {
      csrf: token ? token.value : "",
      title: document.title.split(" · ")[0],
      file: table.dataset.file || table.id || "table",
      table: JSON.stringify(shown(table)),
    };
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    document.body.appendChild(form);
    form.submit();
    form.remove();
  }

  function enhance(table) {
    if (!table.id || table.dataset.enhanced) return;
    table.dataset.enhanced = "1";
    const s = (state[table.id] = state[table.id] || {});
    const bar = document.createElement("div");
    bar.className = "table-tools";
    bar.dataset.for = table.id;
    const search = document.createElement("input");
    search.type = "search";
    search.placeholder = table.dataset.labelSearch || "Search";
    search.value = s.query || "";
    search.addEventListener("input", () => { s.query = search.value; apply(table); });
    const csv = document.createElement("button");
    csv.type = "button";
    csv.className = "csv";
    csv.textContent = table.dataset.labelCsv || "CSV";
    csv.addEventListener("click", () => exportCsv(table));
    const xlsx = document.createElement("button");
    xlsx.type = "button";
    xlsx.className = "xlsx";
    xlsx.textContent = table.dataset.labelXlsx || "Excel";
    xlsx.addEventListener("click", () => exportXlsx(table));
    bar.append(search, csv, xlsx);
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
