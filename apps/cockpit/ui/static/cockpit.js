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

// Label values are checked against their key's label definition as they are typed.
(function () {
  for (const form of document.querySelectorAll("form.label-form[data-check]")) {
    const key = form.querySelector("[name=key]"), value = form.querySelector("[name=value]");
    const out = form.querySelector(".check"), csrf = form.querySelector("[name=csrf]");
    let timer;
    async function check() {
      if (!key.value || !value.value) { out.textContent = ""; out.className = "check"; return; }
      const body = new URLSearchParams({ key: key.value, value: value.value, csrf: csrf.value });
      try {
        const resp = await fetch(form.dataset.check, { method: "POST", body, credentials: "same-origin",
          headers: { "Accept": "application/json" } });
        const res = await resp.json();
        if (res.error) { out.textContent = res.error.message + " (request " + res.error.requestId + ")"; out.className = "check bad"; return; }
        out.textContent = res.message || "";
        out.className = res.valid ? "check good" : "check bad";
        value.setAttribute("aria-invalid", res.valid ? "false" : "true");
      } catch (e) {
        out.textContent = "";
      }
    }
    for (const el of [key, value]) el.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 300); });
  }
})();

// A label selector says how many runtimes it matches as it is typed, before the configuration is saved.
(function () {
  for (const form of document.querySelectorAll("form[data-selector-check]")) {
    const sel = form.querySelector("[name=selector]"), out = form.querySelector("#selector-check");
    const csrf = form.querySelector("[name=csrf]");
    let timer;
    async function check() {
      if (!sel.value.trim()) { out.textContent = ""; out.className = "check"; return; }
      const body = new URLSearchParams({ selector: sel.value, csrf: csrf.value });
      try {
        const resp = await fetch(form.dataset.selectorCheck, { method: "POST", body, credentials: "same-origin",
          headers: { "Accept": "application/json" } });
        const res = await resp.json();
        if (res.error) { out.textContent = res.error.message + " (request " + res.error.requestId + ")"; out.className = "check bad"; return; }
        out.textContent = res.message;
        out.className = res.valid ? "check good" : "check bad";
      } catch (e) {
        out.textContent = "";
      }
    }
    sel.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 300); });
  }
})();
