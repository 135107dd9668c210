/* mmerbench site: sortable tables and the metric-group switch. Plain JavaScript, no library. */
"use strict";

(function () {
  // A cell's sort key: its data-sort attribute (the mean for a score), else its text.
  function key(cell, numeric) {
    var raw = cell ? (cell.getAttribute("data-sort") || cell.textContent || "").trim() : "";
    if (!numeric) return raw.toLowerCase();
    var value = parseFloat(raw);
    return isNaN(value) ? null : value;
  }

  function sortBy(table, index, header) {
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index], numeric), y = key(b.cells[index], numeric);
      if (x === y) return 0;
      if (x === null || x === "") return 1;  // empty cells last, whatever the direction
      if (y === null || y === "") return -1;
      return (x < y ? -1 : 1) * (ascending ? 1 : -1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (header.firstChild) button.appendChild(header.firstChild);
      header.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, index, header); });
    });
  }

  function showGroup(group) {
    document.querySelectorAll("[data-group]").forEach(function (element) {
      if (element.tagName === "BUTTON") {
        element.setAttribute("aria-pressed", element.getAttribute("data-group") === group ? "true" : "false");
      } else {
        element.hidden = element.getAttribute("data-group") !== group;
      }
    });
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  var buttons = document.querySelectorAll(".group-switch button[data-group]");
  buttons.forEach(function (button) {
    button.addEventListener("click", function () { showGroup(button.getAttribute("data-group")); });
  });
  if (buttons.length) showGroup(buttons[0].getAttribute("data-group"));
})();
