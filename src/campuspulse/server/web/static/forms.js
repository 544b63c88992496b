// Forms marked data-confirm ask before they are sent (inline handlers are refused by the page's policy).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// A select marked data-autosubmit sends its form when it changes (the class picker of the record page).
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el instanceof HTMLSelectElement && el.dataset.autosubmit !== undefined && el.form) {
    el.form.requestSubmit();
  }
  // The 分组/演示 choice narrows the experiment list to that type.
  if (el instanceof HTMLInputElement && el.name === "show_type" && el.form) {
    const select = el.form.querySelector("select[name=experiment]");
    for (const option of select ? select.options : []) {
      option.hidden = Boolean(el.value && option.dataset.type && option.dataset.type !== el.value);
    }
    if (select && select.selectedOptions[0] && select.selectedOptions[0].hidden) select.value = "";
  }
});

// The school form shows the class count of the grades its 学段 teaches.
function showGrades() {
  const stage = document.getElementById("stage");
  if (!stage) return;
  const grades = (stage.selectedOptions[0]?.dataset.grades || "").split(",");
  document.querySelectorAll("#grades [data-grade]").forEach((label) => {
    label.hidden = !grades.includes(label.dataset.grade);
  });
}
document.addEventListener("DOMContentLoaded", showGrades);
document.addEventListener("change", (event) => {
  if (event.target instanceof HTMLSelectElement && event.target.id === "stage") showGrades();
});
