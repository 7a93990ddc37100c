// The Packs page's script: "Add a row" for a table of rows in a generated parameter form.
// Without it the page still works: every table shows one empty row to fill in.
(function () {
  "use strict";

  function rowsOf(button) {
    var group = button.closest("fieldset");
    return group ? group.querySelector("tbody[data-rows]") : null;
  }

  function addRow(button) {
    var group = button.closest("fieldset");
    var body = rowsOf(button);
    var template = group && group.querySelector("template[data-row-template]");
    if (!body || !template) {
      return;
    }
    var index = body.rows.length;
    var max = button.dataset.maxRows ? parseInt(button.dataset.maxRows, 10) : Infinity;
    if (index >= max) {
      return;
    }
    // The template is the server's own markup of an empty row (no user data in it);
    // its names and ids carry __row__ and its labels __n__ where the row number goes.
    var row = template.content.firstElementChild.cloneNode(true);
    row.querySelectorAll("[name], [id], [for], [aria-describedby], [data-field]").forEach(function (el) {
      ["name", "id", "for", "aria-describedby", "data-field"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value !== null) {
          el.setAttribute(attr, value.split("__row__").join(String(index)));
        }
      });
    });
    row.setAttribute("data-row", String(index));
    row.querySelectorAll("th, label").forEach(function (el) {
      el.textContent = el.textContent.split("__n__").join(String(index + 1));
    });
    body.appendChild(row);
    update(button);
    var first = row.querySelector("input, select, textarea");
    if (first) {
      first.focus();
    }
  }

  function update(button) {
    var body = rowsOf(button);
    var max = button.dataset.maxRows ? parseInt(button.dataset.maxRows, 10) : Infinity;
    button.hidden = !body || body.rows.length >= max;
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("button[data-add-row]");
    if (button) {
      event.preventDefault();
      addRow(button);
    }
  });

  function start() {
    document.querySelectorAll("button[data-add-row]").forEach(update);
    var errors = document.getElementById("pack-errors");
    if (errors) {
      errors.focus();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
