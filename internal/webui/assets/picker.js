// Foreign-key pickers: an input with data-picker="URL" offers matching rows
// from URL?q=TEXT (JSON [{id,label}]) as buttons; choosing one fills the id.
// Without the script the input still takes a typed id.
(function () {
  document.querySelectorAll("input[data-picker]").forEach(function (input) {
    var list = document.createElement("ul");
    list.className = "picker-list";
    list.hidden = true;
    list.id = input.id + "-choices";
    input.setAttribute("aria-controls", list.id);
    input.insertAdjacentElement("afterend", list);
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        fetch(input.dataset.picker + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (rows) {
            list.textContent = "";
            rows.forEach(function (row) {
              var li = document.createElement("li");
              var b = document.createElement("button");
              b.type = "button";
              b.textContent = row.label + " (" + row.id + ")";
              b.addEventListener("click", function () {
                input.value = row.id;
                list.hidden = true;
                input.focus();
              });
              li.appendChild(b);
              list.appendChild(li);
            });
            list.hidden = rows.length === 0;
          });
      }, 200);
    });
  });
})();
