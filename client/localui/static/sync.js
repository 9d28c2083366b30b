// The Sync button: starts a sync through the local API and shows each step
// as the view reports it, then says how it ended.
(function () {
  var form = document.getElementById("sync-form");
  if (!form) { return; }
  var out = document.getElementById("sync-progress");
  var csrf = form.querySelector("input[name=csrf]").value;
  function show(st) {
    if (st.running) {
      var p = st.progress || {};
      out.textContent = "Syncing: " + (p.step || "starting") + " " + (p.files || 0) + "/" + (p.total_files || 0) + " files, " + (p.bytes || 0) + " bytes";
      return true;
    }
    if (st.error) { out.textContent = "Sync failed: " + st.error; return false; }
    var l = st.last || {};
    out.textContent = "Sync done: " + (l.Uploaded || 0) + " changes sent, " + (l.Applied || 0) + " files applied.";
    fetch("/api/v1/status", {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
      document.getElementById("status").textContent = "Node " + s.node + ". Last sync: " + s.last_sync + " (" + s.last_sync_result + "). Pending changes: " + s.pending_changes + ". Pending uploads: " + s.pending_uploads + ". Conflicts: " + (s.conflicts || []).length + ".";
    });
    return false;
  }
  function watch(version) {
    fetch("/api/v1/sync?after=" + version, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (st) {
      if (show(st)) { watch(st.version); } else { form.dataset.done = String(st.version); }
    }).catch(function (e) { out.textContent = "Sync failed: " + e; });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    out.textContent = "Syncing…";
    delete form.dataset.done;
    fetch("/api/v1/sync", {method: "POST", credentials: "same-origin", headers: {"X-Fieldsync-CSRF": csrf}}).then(function (r) { return r.json(); }).then(function (st) {
      if (show(st)) { watch(st.version); }
    }).catch(function (e) { out.textContent = "Sync failed: " + e; });
  });
})();
