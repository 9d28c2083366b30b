// Foreign-key pickers of the field user's view: an input with
// data-picker="URL" becomes a combobox (the WAI-ARIA pattern) offering the
// node's local rows that match what is typed, from URL?q=TEXT (JSON
// [{id, label}]). Down and Up move through the choices, Enter takes one,
// Escape closes the list; a click takes one too. A polite status line
// says how many rows match and which one was chosen. Without the script
// the input still takes a typed id.
(function () {
  function picker(input) {
    var label = document.querySelector('label[for="' + input.id + '"]');
    var what = input.dataset.picker.split("/").pop();
    var list = document.createElement("ul");
    list.id = input.id + "-choices";
    list.className = "picker-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", (label ? label.textContent + ": " : "") + "matching " + what + " rows");
    list.hidden = true;
    var status = document.createElement("p");
    status.id = input.id + "-status";
    status.className = "hint picker-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    var described = (input.getAttribute("aria-describedby") || "").trim();
    input.setAttribute("aria-describedby", (described ? described + " " : "") + status.id);
    input.insertAdjacentElement("afterend", list);
    list.insertAdjacentElement("afterend", status);
    var rows = [], active = -1, timer = null, asked = 0, chose = false;

    function show(open) {
      list.hidden = !open;
      input.setAttribute("aria-expanded", open ? "true" : "false");
      if (!open) { select(-1); }
    }
    function select(i) {
      active = i;
      for (var j = 0; j < list.children.length; j++) {
        list.children[j].setAttribute("aria-selected", j === i ? "true" : "false");
      }
      if (i >= 0) {
        input.setAttribute("aria-activedescendant", list.children[i].id);
        list.children[i].scrollIntoView({block: "nearest"});
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function choose(i) {
      input.value = rows[i].id;
      input.dataset.chosen = rows[i].id;
      status.textContent = "Chosen: " + text(rows[i]) + ".";
      show(false);
      input.focus();
    }
    function text(row) { return row.label ? row.label + " (" + row.id + ")" : row.id; }
    function search() {
      var mine = ++asked;
      fetch(input.dataset.picker + "?q=" + encodeURIComponent(input.value.trim()), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (got) {
          if (mine !== asked) { return; } // an answer to an older text
          rows = got;
          list.textContent = "";
          rows.forEach(function (row, i) {
            var li = document.createElement("li");
            li.id = list.id + "-" + i;
            li.setAttribute("role", "option");
            li.dataset.id = row.id;
            li.textContent = text(row);
            li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
            list.appendChild(li);
          });
          show(rows.length > 0);
          input.dataset.matches = String(rows.length);
          status.textContent = rows.length === 0 ? "No " + what + " row matches." :
            rows.length + " " + what + " row(s) match: Down and Up to move, Enter to choose, Escape to close.";
        });
    }
    input.addEventListener("input", function () {
      delete input.dataset.chosen;
      clearTimeout(timer);
      timer = setTimeout(search, 150);
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowDown") {
        ev.preventDefault();
        if (list.hidden) { search(); return; }
        select(Math.min(active + 1, rows.length - 1));
      } else if (ev.key === "ArrowUp") {
        ev.preventDefault();
        if (!list.hidden) { select(Math.max(active - 1, 0)); }
      } else if (ev.key === "Enter" && !list.hidden && active >= 0) {
        ev.preventDefault(); // takes the choice; does not send the form
        chose = true;
        choose(active);
      } else if (ev.key === "Escape" && !list.hidden) {
        ev.preventDefault();
        show(false);
      }
    });
    input.addEventListener("keypress", function (ev) {
      // The Enter that took a choice sends no form, whichever event a
      // browser sends the form on.
      if (ev.key === "Enter" && chose) { ev.preventDefault(); }
      chose = false;
    });
    input.addEventListener("blur", function () { show(false); });
  }
  document.querySelectorAll("input[data-picker]").forEach(function (input) {
    if (!input.readOnly) { picker(input); }
  });
})();
