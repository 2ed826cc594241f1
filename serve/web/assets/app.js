// agentteam web page. Everything that comes from a run (task text, model
// text, kernel output) is untrusted: it is only ever set as textContent,
// never parsed as HTML; images are shown only from base64 data of a known
// raster type.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // shown makes untrusted text fit to look at: bidirectional controls,
  // which make text read otherwise than it is (code that runs differently
  // from how it reads), are shown as <U+XXXX>; terminal colour codes are
  // dropped; other control characters are shown as their pictures (U+2400).
  // Line breaks, tabs and carriage returns stay (a browser shows a carriage
  // return as a space, so nothing hides behind one).
  const ANSI = /\x1b\[[0-9;?]*[ -\/]*[@-~]/g;
  const BIDI = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  const CTRL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
  function shown(s) {
    if (typeof s !== "string") return s;
    return s.replace(ANSI, "")
      .replace(BIDI, (c) => "<U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + ">")
      .replace(CTRL, (c) => (c === "\x7f" ? "\u2421" : String.fromCharCode(0x2400 + c.charCodeAt(0))));
  }

  // setText sets an element's untrusted text.
  function setText(e, s) {
    e.textContent = shown(s);
  }

  // el builds an element; string children become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") setText(e, v);
      else e.setAttribute(k, shown(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(typeof c === "string" ? document.createTextNode(shown(c)) : c);
    }
    return e;
  }

  async function api(path, opts) {
    const res = await fetch(path, Object.assign({ credentials: "same-origin" }, opts || {}));
    if (res.status === 401) {
      showLogin();
      throw new Error("sign in first");
    }
    let body = null;
    const ct = res.headers.get("Content-Type") || "";
    if (ct.startsWith("application/json")) body = await res.json();
    if (!res.ok) throw new Error((body && body.error) || res.status + " " + res.statusText);
    return body;
  }

  // ---- Python highlighting (tokens become spans with textContent) ----
  const KW = new Set(("False None True and as assert async await break class continue def del elif else except " +
    "finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case").split(" "));
  const TOKEN = /(#[^\n]*)|((?:[rRbBfFuU]{0,2})(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?))|(@[A-Za-z_][\w.]*)|(\b\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?j?\b)|([A-Za-z_]\w*)/g;

  function highlight(code, lang) {
    code = shown(code);
    const pre = el("pre", { class: "code", "data-lang": lang || "" });
    const codeEl = el("code");
    pre.append(codeEl);
    if (lang && !/^(py|python|python3|ipython|)$/i.test(lang)) {
      codeEl.textContent = code;
      return pre;
    }
    let last = 0;
    let m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(code)) !== null) {
      if (m[0] === "") { TOKEN.lastIndex++; continue; }
      let cls = null;
      if (m[1]) cls = "tok-com";
      else if (m[2]) cls = "tok-str";
      else if (m[3]) cls = "tok-dec";
      else if (m[4]) cls = "tok-num";
      else if (m[5]) {
        if (KW.has(m[5])) cls = "tok-kw";
        else if (code[TOKEN.lastIndex] === "(") cls = "tok-fn";
      }
      if (!cls) continue;
      if (m.index > last) codeEl.append(document.createTextNode(code.slice(last, m.index)));
      codeEl.append(el("span", { class: cls, text: m[0] }));
      last = TOKEN.lastIndex;
    }
    if (last < code.length) codeEl.append(document.createTextNode(code.slice(last)));
    return pre;
  }

  // renderText shows model text: prose as text, fenced code highlighted.
  // With fold, code is folded away (the coder's code is shown again, with
  // its output, as the step that runs it).
  function renderText(text, fold) {
    const box = el("div", { class: "msg" });
    const fence = /^[ \t]*(```|~~~)([^\n]*)\n([\s\S]*?)^[ \t]*\1[ \t]*$/gm;
    let last = 0;
    let m;
    const prose = (s) => {
      s = s.replace(/\bTERMINATE\b/g, "").trim();
      if (s) box.append(el("div", { class: "prose", text: s }));
    };
    while ((m = fence.exec(text)) !== null) {
      prose(text.slice(last, m.index));
      const code = highlight(m[3].replace(/\n$/, ""), m[2].trim());
      box.append(fold ? el("details", { class: "code-fold" }, el("summary", { text: "code (run in the next step)" }), code) : code);
      last = fence.lastIndex;
    }
    prose(text.slice(last));
    return box;
  }

  // ---- kernel outputs ----
  const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif"];
  const B64 = /^[A-Za-z0-9+/=\s]+$/;

  // progress keeps what a terminal would show of lines redrawn with
  // carriage returns (progress bars): the text after the last one.
  function progress(text) {
    return text.replace(/\r\n/g, "\n").split("\n").map((l) => {
      const i = l.replace(/\r+$/, "").lastIndexOf("\r");
      return i >= 0 ? l.slice(i + 1) : l;
    }).join("\n");
  }

  function outputNode(o) {
    if (!o) return null;
    switch (o.output_type) {
      case "stream":
        return el("pre", { class: "out " + (o.name === "stderr" ? "stderr" : "stdout"), text: progress(o.text || "") });
      case "error": {
        const tb = (o.traceback || []).join("\n");
        return el("pre", { class: "out err", text: tb || ((o.ename || "Error") + ": " + (o.evalue || "")) });
      }
      case "execute_result":
      case "display_data": {
        const data = o.data || {};
        for (const t of IMAGE_TYPES) {
          const v = data[t];
          if (typeof v === "string" && B64.test(v)) {
            const alt = typeof data["text/plain"] === "string" ? data["text/plain"] : "figure";
            return el("figure", {}, el("img", { src: "data:" + t + ";base64," + v.replace(/\s/g, ""), alt: alt }));
          }
        }
        const txt = data["text/plain"];
        if (typeof txt === "string") return el("pre", { class: "out", text: txt });
        return null;
      }
    }
    return null;
  }

  // ---- state ----
  let runs = [];
  let current = null; // {id, source, steps, speaking, ...}
  let token_required = false;

  function showLogin() {
    $("app").hidden = true;
    $("login").hidden = false;
    $("token").focus();
  }

  async function boot() {
    const s = await fetch("/v1/session", { credentials: "same-origin" }).then((r) => r.json());
    token_required = s.token_required;
    if (s.token_required && !s.authenticated) {
      showLogin();
      return;
    }
    $("logout").hidden = !s.token_required;
    $("login").hidden = true;
    $("app").hidden = false;
    await refreshRuns();
    route();
    setInterval(() => { if (!document.hidden) refreshRuns().catch(() => {}); }, 3000);
  }

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    try {
      const res = await fetch("/v1/session", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: $("token").value }),
      });
      if (!res.ok) throw new Error((await res.json()).error || "sign-in failed");
      $("token").value = "";
      await boot();
    } catch (err) {
      setText($("login-error"), err.message);
    }
  });

  $("logout").addEventListener("click", async () => {
    await fetch("/v1/session", { method: "DELETE", credentials: "same-origin" });
    location.hash = "#/";
    showLogin();
  });

  function fmtTime(t) {
    if (!t) return "";
    const d = new Date(t);
    return d.toLocaleString();
  }

  async function refreshRuns() {
    const body = await api("/v1/runs");
    runs = body.runs || [];
    const list = $("runs-list");
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
    list.replaceChildren(...runs.map((r) => {
      const a = el("a", { href: "#/runs/" + r.id, "data-id": r.id },
        el("span", { class: "badge " + r.status, text: r.status }), " ",
        el("span", { class: "task", text: r.task }),
        el("span", { class: "when", text: fmtTime(r.created) }));
      if (current && current.id === r.id) a.setAttribute("aria-current", "page");
      return el("li", {}, a);
    }));
    $("runs-empty").hidden = runs.length > 0;
    if (focused) {
      const again = list.querySelector('a[data-id="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  // ---- routing ----
  function route() {
    const m = /^#\/runs\/([0-9a-z-]+)$/.exec(location.hash);
    if (m) openRun(m[1]);
    else showNew();
  }
  window.addEventListener("hashchange", route);

  function closeCurrent() {
    if (current && current.source) current.source.close();
    current = null;
  }

  function showNew() {
    closeCurrent();
    $("run-view").hidden = true;
    $("new-run").hidden = false;
    refreshRuns().catch(() => {});
  }

  // ---- new run ----
  $("new-run-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    $("form-error").textContent = "";
    const fd = new FormData();
    fd.append("task", $("task").value);
    for (const f of $("files").files) fd.append("file", f, f.name);
    $("start").disabled = true;
    try {
      const r = await api("/v1/runs", { method: "POST", body: fd });
      form.reset();
      location.hash = "#/runs/" + r.id;
    } catch (err) {
      setText($("form-error"), err.message);
    } finally {
      $("start").disabled = false;
    }
  });

  // ---- run view ----
  function setStatus(run) {
    const b = $("run-status");
    b.className = "badge " + run.status;
    b.textContent = run.status;
    setText($("run-task"), run.task);
    const bits = [];
    if (run.created) bits.push("created " + fmtTime(run.created));
    if (run.ended) bits.push("ended " + fmtTime(run.ended));
    if (run.stop_reason) bits.push("stop: " + run.stop_reason);
    if (run.usage) bits.push("tokens " + ((run.usage.prompt_tokens || 0) + (run.usage.completion_tokens || 0)));
    if (run.executions) bits.push(run.executions + " executions");
    if (run.error) bits.push("error: " + run.error);
    setText($("run-meta"), bits.join(" · "));
    $("cancel-run").hidden = run.status !== "queued" && run.status !== "running";
    if (run.final_answer) showFinal(run.final_answer);
    if (run.status !== "queued" && run.status !== "running") {
      $("run-activity").textContent = "";
    }
  }

  function showFinal(text) {
    $("final").hidden = false;
    $("final-answer").replaceChildren(renderText(text));
  }

  function showDownloads(run) {
    const outs = run.outputs || [];
    const list = $("download-list");
    list.replaceChildren(...outs.map((p) => el("li", {},
      el("a", { href: "/v1/runs/" + encodeURIComponent(run.id) + "/files/" + p.split("/").map(encodeURIComponent).join("/") + "?download=1", download: "", text: p }))));
    $("downloads").hidden = outs.length === 0;
  }

  async function openRun(id) {
    closeCurrent();
    $("new-run").hidden = true;
    $("run-view").hidden = false;
    $("timeline").replaceChildren();
    $("final").hidden = true;
    $("final-answer").replaceChildren();
    $("downloads").hidden = true;
    $("run-activity").textContent = "";
    current = { id: id, steps: [], step: null, speaking: null, planSeen: false, source: null };
    for (const a of document.querySelectorAll("#runs-list a")) {
      if (a.dataset.id === id) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    let run;
    try {
      run = await api("/v1/runs/" + encodeURIComponent(id));
    } catch (err) {
      $("run-task").textContent = "";
      setText($("run-meta"), err.message);
      return;
    }
    if (!current || current.id !== id) return;
    setStatus(run);
    showDownloads(run);
    const me = current;
    const src = new EventSource("/v1/runs/" + encodeURIComponent(id) + "/events");
    me.source = src;
    src.onmessage = (ev) => {
      if (current !== me) return;
      let data;
      try { data = JSON.parse(ev.data); } catch (_) { return; }
      onEvent(me, data);
    };
    src.addEventListener("end", async (ev) => {
      src.close();
      if (current !== me) return;
      try { setStatus(JSON.parse(ev.data)); } catch (_) { /* ignore */ }
      finishSpeaking(me);
      try {
        const r = await api("/v1/runs/" + encodeURIComponent(id));
        if (current === me) { setStatus(r); showDownloads(r); }
      } catch (_) { /* ignore */ }
      refreshRuns().catch(() => {});
      document.body.dataset.runEnded = id;
    });
  }

  function add(item) {
    $("timeline").append(item);
    return item;
  }

  function finishSpeaking(me) {
    me.speaking = null;
  }

  function roleOf(me, source) {
    if (source === "planner") return me.planSeen ? "reflection" : "plan";
    return source;
  }

  function onEvent(me, ev) {
    switch (ev.event) {
      case "status":
        setText($("run-activity"), ev.text || "");
        return;
      case "note":
        add(el("li", { class: "note" }, el("div", { class: "who", text: "note" }), el("div", { class: "prose", text: ev.text || "" })));
        return;
      case "summary":
        if (ev.final_answer) showFinal(ev.final_answer);
        return;
      case "message":
        onMessage(me, ev.message || {});
        return;
    }
  }

  function onMessage(me, m) {
    switch (m.kind) {
      case "chunk": {
        // A reply as it streams: plain text until the whole message arrives.
        if (!me.speaking || me.speaking.source !== m.source) {
          const role = roleOf(me, m.source);
          const body = el("div", { class: "prose streaming" });
          const li = add(el("li", { class: role }, el("div", { class: "who", text: role === m.source ? m.source : role + " (" + m.source + ")" }), body));
          me.speaking = { source: m.source, li: li, body: body, text: "" };
          setText($("run-activity"), m.source + " is writing…");
        }
        me.speaking.text += m.content || "";
        setText(me.speaking.body, me.speaking.text);
        return;
      }
      case "text": {
        if (m.source === "user") {
          const d = el("details", {}, el("summary", { text: "The task as the team received it" }), el("div", { class: "prose", text: m.content || "" }));
          add(el("li", { class: "task" }, el("div", { class: "who", text: "task" }), d));
          return;
        }
        if (m.source === "executor") {
          me.speaking = null;
          return; // its outputs are already shown under the step
        }
        const role = roleOf(me, m.source);
        const who = el("div", { class: "who", text: role === m.source ? m.source : role + " (" + m.source + ")" });
        const body = renderText(m.content || "", m.source === "coder");
        if (me.speaking && me.speaking.source === m.source) {
          me.speaking.li.replaceChildren(who, body);
        } else {
          add(el("li", { class: role }, who, body));
        }
        if (m.source === "planner") me.planSeen = true;
        me.speaking = null;
        $("run-activity").textContent = "";
        return;
      }
      case "code_generation": {
        const n = me.steps.length + 1;
        const out = el("div", { class: "outputs" });
        const li = add(el("li", { class: "step", "data-step": String(n) }, el("div", { class: "who", text: "step " + n + " · executor" })));
        for (const b of m.blocks || []) li.append(highlight(b.code || "", b.language || ""));
        li.append(out);
        me.step = { li: li, out: out, shown: 0 };
        me.steps.push(me.step);
        me.speaking = null;
        $("run-activity").textContent = "running in the kernel…";
        return;
      }
      case "output": {
        if (!me.step) return;
        const node = outputNode(m.output);
        if (node) { me.step.out.append(node); me.step.shown++; }
        return;
      }
      case "code_execution": {
        const st = me.step;
        if (!st) return;
        for (const ex of m.executions || []) {
          const r = ex.result || {};
          if (st.shown === 0) {
            for (const o of r.outputs || []) { const node = outputNode(o); if (node) st.out.append(node); }
          }
          if (r.status && r.status !== "ok") {
            st.li.classList.add("error");
            st.out.append(el("p", { class: "error", text: "[" + r.status + "] " + (r.message || (r.error ? (r.error.ename + ": " + r.error.evalue) : "")) }));
          }
        }
        me.step = null;
        $("run-activity").textContent = "";
        return;
      }
      case "stop":
        add(el("li", { class: "stop" }, el("div", { class: "who", text: "stopped" }), el("div", { class: "prose", text: m.content || "" })));
        return;
    }
  }

  $("cancel-run").addEventListener("click", async () => {
    if (!current) return;
    try {
      await api("/v1/runs/" + encodeURIComponent(current.id), { method: "DELETE" });
      $("run-activity").textContent = "cancelling…";
    } catch (err) {
      setText($("run-activity"), err.message);
    }
  });

  // ---- keyboard ----
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test((e.target && e.target.tagName) || "");
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target === $("task")) {
      e.preventDefault();
      $("new-run-form").requestSubmit();
      return;
    }
    if (e.key === "Escape") {
      if (typing) e.target.blur();
      location.hash = "#/";
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "n") {
      e.preventDefault();
      location.hash = "#/";
      showNew();
      $("task").focus();
    } else if (e.key === "j" || e.key === "k") {
      if (runs.length === 0) return;
      let i = current ? runs.findIndex((r) => r.id === current.id) : -1;
      i = e.key === "j" ? Math.min(runs.length - 1, i + 1) : Math.max(0, i - 1);
      location.hash = "#/runs/" + runs[i].id;
      const a = document.querySelector('#runs-list a[data-id="' + CSS.escape(runs[i].id) + '"]');
      if (a) a.focus();
    }
  });

  boot().catch((err) => { document.body.append(el("p", { class: "error", text: String(err.message || err) })); });
})();
