// The Cockpit's own script: everything here makes a page better while it is open; every page works
// without it. No third-party code.
"use strict";

// Live refresh: the page's main element carries the address of its event stream (data-live), which
// names the IDs the page shows. When one of them changes, the page fetches itself again and swaps in its
// live regions (data-live-region), leaving forms alone so that nothing being typed is lost. The stream
// ends after each change and the browser reconnects with the last event's ID, so nothing is missed.
(function () {
  const main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource) return;
  let busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const resp = await fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      for (const region of document.querySelectorAll("[data-live-region][id]")) {
        const fresh = doc.getElementById(region.id);
        if (fresh) region.replaceWith(document.adoptNode(fresh));
      }
      document.body.dataset.refreshed = String(Date.now());
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  new EventSource(main.dataset.live).addEventListener("changed", refresh);
})();

// Forms that are checked as they are typed (data-check: where to ask; data-check-fields: the fields sent,
// the last of which is the one judged): a label value against its definition, a label selector's matches,
// a JSON Schema. The server answers {valid, message} or {error}; the form says it in its .check element.
(function () {
  for (const form of document.querySelectorAll("form[data-check]")) {
    const names = (form.dataset.checkFields || "").split(" ").filter(Boolean);
    const fields = names.map((n) => form.querySelector("[name=" + n + "]"));
    const judged = fields[fields.length - 1], out = form.querySelector(".check");
    const csrf = form.querySelector("[name=csrf]");
    if (!judged || !out || !csrf) continue;
    let timer;
    async function check() {
      if (!judged.value.trim()) { out.textContent = ""; out.className = "check"; judged.removeAttribute("aria-invalid"); return; }
      const body = new URLSearchParams({ csrf: csrf.value });
      names.forEach((n, i) => body.set(n, fields[i].value));
      try {
        const resp = await fetch(form.dataset.check, { method: "POST", body, credentials: "same-origin",
          headers: { "Accept": "application/json" } });
        const res = await resp.json();
        if (res.error) { out.textContent = res.error.message + " (request " + res.error.requestId + ")"; out.className = "check bad"; return; }
        out.textContent = res.message || "";
        out.className = res.valid ? "check good" : "check bad";
        judged.setAttribute("aria-invalid", res.valid ? "false" : "true");
      } catch (e) {
        out.textContent = "";
      }
    }
    for (const el of fields) el.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 300); });
  }
})();
