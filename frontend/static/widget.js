// Kefu shopper widget. A shop embeds it with one tag:
//
//   <script src="https://KEFU_HOST/widget.js" async data-color="#2f6fed"></script>
//
// and gets a chat launcher in a Shadow DOM (the shop's CSS cannot reach in,
// ours cannot leak out). Everything it loads or connects to is on the origin
// this file came from, so a shop whose Content-Security-Policy allows only
// Kefu's origin for scripts and connections works. Styles go in through a
// constructed stylesheet (CSSOM), which CSP's style-src does not block.
//
// Reading order: config → storage → state → connection (hello, sync, acks,
// reconnect) → rendering → public API (window.Kefu). docs/widget.md is the
// shop-facing description; docs/protocol.md the socket protocol.
(() => {
  "use strict";

  const script = document.currentScript;
  if (window.Kefu && window.Kefu.version) return; // loaded twice: keep the first

  // ---- config -------------------------------------------------------------
  const src = new URL(script && script.src ? script.src : "/widget.js", location.href);
  const KEFU = src.origin;
  const BASE = new URL(".", src).href; // language files live next to widget.js
  const data = (script && script.dataset) || {};
  const pickLang = (l) => (/^zh/i.test(l || "") ? "zh-CN" : "en");
  const cfg = {
    color: data.color || "",
    title: data.title || "",
    greeting: data.greeting || "",
    position: data.position === "left" ? "left" : "right",
    lang: pickLang(data.lang || navigator.language || (navigator.languages || [])[0]),
    department: data.department || "",
    // data-department-picker (no value, or anything but false/off/0/no)
    // asks the shopper to pick a department before their first message.
    picker: data.departmentPicker != null && !/^(false|off|0|no)$/i.test(data.departmentPicker),
  };

  // ---- storage ------------------------------------------------------------
  // localStorage belongs to the shop's origin; keys carry Kefu's origin so two
  // Kefu installs on one shop do not mix. Storage may throw (privacy modes).
  const KEY_TOKEN = "kefu.visitor." + KEFU;
  const KEY_PENDING = "kefu.pending." + KEFU;
  const KEY_OPEN = "kefu.open." + KEFU;
  const KEY_DISMISSED = "kefu.dismissed." + KEFU; // JSON list of announcement ids
  const store = {
    get(k, s) { try { return (s || localStorage).getItem(k); } catch (e) { return null; } },
    set(k, v, s) { try { (s || localStorage).setItem(k, v); } catch (e) { /* ignore */ } },
  };

  const uuid = () => {
    if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  };

  // ---- state --------------------------------------------------------------
  const st = {
    conn: "connecting", // connecting | online | offline | stopped
    retryIn: 0,
    conv: null, // the open conversation: {id, status, agent_name, ...}
    msgs: new Map(), // seq → message of st.conv
    seq: 0, // highest seq with no gap below it
    history: false, // the first sync after page load is done: later messages are news
    pending: [], // {client_id, body, created_at, failed, error}
    position: 0,
    wait: null,
    open: store.get(KEY_OPEN, sessionStorage) === "1",
    unread: 0,
    identity: null,
    department: cfg.department,
    departments: null, // the shop's public departments, for the picker: [{id, name}], once loaded
    picked: false, // the shopper chose st.department in the picker
    anns: new Map(), // announcement id → announcement, in arrival order
    typingUntil: 0, // the agent's typing indicator shows until then (ms)
    readSent: 0, // highest seq this page reported read
    uploads: [], // {client_id, name, error}: files being sent or refused
    away: null, // {email_replies}: nobody could answer when the conversation opened
    email: "", // where replies are mailed, once the server saved it
    emailError: "",
  };
  let typingTimer = 0;
  let pageDepartment = false; // the page chose a department with Kefu.setDepartment
  let typingSentAt = 0;
  // Dismissed announcements stay dismissed across pages and visits; the list
  // keeps the newest 200 ids so it cannot grow without bound.
  let dismissed = [];
  try {
    const d = JSON.parse(store.get(KEY_DISMISSED) || "[]");
    if (Array.isArray(d)) dismissed = d.filter((x) => typeof x === "string").slice(-200);
  } catch (e) { /* corrupt: none dismissed */ }
  const seenSent = new Set(); // ids whose seen frame went out on this page
  let expiryTimer = 0;
  try {
    const saved = JSON.parse(store.get(KEY_PENDING) || "[]");
    if (Array.isArray(saved)) st.pending = saved.filter((p) => p && p.client_id && p.body).map((p) => ({ client_id: p.client_id, body: p.body, created_at: p.created_at }));
  } catch (e) { /* corrupt: start empty */ }
  const savePending = () => store.set(KEY_PENDING, JSON.stringify(st.pending.map((p) => ({ client_id: p.client_id, body: p.body, created_at: p.created_at }))));

  const listeners = {};
  const emit = (ev, arg) => (listeners[ev] || []).slice().forEach((fn) => { try { fn(arg); } catch (e) { setTimeout(() => { throw e; }); } });

  // ---- connection ---------------------------------------------------------
  const WS_URL = KEFU.replace(/^http/, "ws") + "/ws/visitor";
  let ws = null;
  let attempt = 0;
  let retryTimer = 0;
  let syncing = false;

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    setConn("connecting");
    let s;
    try { s = new WebSocket(WS_URL); } catch (e) { schedule(0); return; }
    ws = s;
    syncing = false;
    s.onopen = () => {
      if (ws !== s) return;
      const hello = {
        type: "hello",
        page: { url: location.href, title: document.title },
        lang: data.lang || navigator.language || cfg.lang,
      };
      const token = store.get(KEY_TOKEN);
      if (token) hello.token = token;
      // Only the shop's signature string travels: Kefu trusts nothing a
      // page says about a customer unless the shop's server signed it.
      if (st.identity && st.identity.signature) hello.identity = st.identity.signature;
      send(hello);
    };
    s.onmessage = (e) => {
      if (ws !== s) return;
      let f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (f && typeof f.type === "string") handle(f);
    };
    s.onclose = (e) => {
      if (ws !== s) return;
      ws = null;
      // 4500–4999: do not reconnect with the same credentials (protocol.md).
      if (e.code >= 4500 && e.code <= 4999) { setConn("stopped"); return; }
      schedule(e.code);
    };
  }

  // schedule reconnects with exponential backoff and full jitter, so a
  // restarted server is not hit by every shopper at the same instant.
  function schedule(code) {
    const base = code === 1008 ? 5000 : 500; // flooding: back off longer
    const cap = Math.min(30000, base * Math.pow(2, attempt));
    attempt++;
    const delay = Math.round(cap / 2 + Math.random() * cap / 2);
    st.retryIn = Math.ceil(delay / 1000);
    setConn("offline");
    retryTimer = setTimeout(connect, delay);
  }

  window.addEventListener("online", () => { if (!ws && st.conn !== "stopped") connect(); });

  function send(f) {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(f));
    return true;
  }

  function requestSync() {
    if (!st.conv || syncing) return;
    syncing = send({ type: "sync", conversation_id: st.conv.id, after_seq: st.seq, limit: 100 });
  }

  function sendPending(p) {
    p.failed = false;
    p.error = "";
    const f = { type: "message", client_id: p.client_id, body: p.body };
    if (st.department) f.department = st.department; // used when this message opens a conversation
    // Without an ack it stays "sending" and goes again after a reconnect,
    // same client_id (stored once); only an error frame marks it failed.
    send(f);
  }

  function setConv(c) {
    if (!st.conv || st.conv.id !== c.id) {
      st.msgs = new Map();
      st.seq = 0;
      syncing = false;
    }
    if (!st.conv || st.conv.id !== c.id) { st.readSent = 0; st.typingUntil = 0; }
    st.conv = Object.assign({}, st.conv && st.conv.id === c.id ? st.conv : {}, c);
    if (c.status !== "queued") { st.position = 0; st.wait = null; }
    if (c.status === "assigned") st.away = null; // someone is here now
  }

  // addMessage stores m if it is new; returns whether it was.
  function addMessage(m) {
    if (!m || typeof m.seq !== "number") return false;
    if (!st.conv || st.conv.id !== m.conversation_id) setConv({ id: m.conversation_id, status: "queued" });
    const had = st.msgs.get(m.seq);
    if (had && !had.local) return false;
    st.msgs.set(m.seq, m);
    if (m.client_id && m.sender_kind === "visitor") dropPending(m.client_id);
    while (st.msgs.has(st.seq + 1)) st.seq++;
    if (st.conv.last_seq == null || st.conv.last_seq < m.seq) st.conv.last_seq = m.seq;
    return !had;
  }

  function dropPending(clientID) {
    const i = st.pending.findIndex((p) => p.client_id === clientID);
    if (i < 0) return;
    st.pending.splice(i, 1);
    savePending();
  }

  function gapCheck() {
    for (const seq of st.msgs.keys()) if (seq > st.seq) { requestSync(); return; }
  }

  function handle(f) {
    switch (f.type) {
      case "welcome":
        attempt = 0;
        if (f.token) store.set(KEY_TOKEN, f.token);
        setConn("online");
        if (f.conversation) {
          setConv(f.conversation);
          requestSync();
        } else {
          if (st.conv && st.conv.status !== "resolved") st.conv.status = "resolved";
          st.history = true;
        }
        st.pending.forEach(sendPending);
        break;
      case "ack": {
        const p = st.pending.find((x) => x.client_id === f.client_id);
        if (!st.conv || st.conv.id !== f.conversation_id) setConv({ id: f.conversation_id, status: "queued" });
        if (p) {
          // Show it as stored right away; the message event that follows
          // replaces this local copy (same seq).
          if (!st.msgs.has(f.seq)) {
            st.msgs.set(f.seq, { id: f.message_id, conversation_id: f.conversation_id, seq: f.seq, sender_kind: "visitor", client_id: p.client_id, body: p.body, created_at: new Date().toISOString(), local: true });
            while (st.msgs.has(st.seq + 1)) st.seq++;
          }
          dropPending(p.client_id);
          gapCheck();
        }
        break;
      }
      case "message": {
        const m = f.message;
        const isNew = addMessage(m);
        if (m.sender_kind === "agent") st.typingUntil = 0; // their message ends their typing
        if (isNew) {
          if (m.sender_kind !== "visitor" && (!st.open || document.hidden)) bumpUnread();
          emit("message", publicMessage(m));
        }
        gapCheck();
        break;
      }
      case "messages":
        if (!st.conv || f.conversation_id !== st.conv.id) break;
        syncing = false;
        for (const m of f.messages || []) {
          if (addMessage(m) && st.history) {
            if (m.sender_kind !== "visitor" && (!st.open || document.hidden)) bumpUnread();
            emit("message", publicMessage(m));
          }
        }
        if (f.more) requestSync();
        else { st.history = true; gapCheck(); }
        break;
      case "conversation":
        if (f.conversation) setConv(f.conversation);
        break;
      case "position":
        if (!st.conv || st.conv.status === "queued") {
          st.position = f.position || 0;
          st.wait = typeof f.estimated_wait_seconds === "number" ? f.estimated_wait_seconds : null;
        }
        break;
      case "unavailable":
        if (!st.conv || st.conv.id === f.conversation_id) {
          st.away = { email_replies: !!f.email_replies, closed: f.reason === "closed", opens_at: typeof f.opens_at === "string" ? f.opens_at : "" };
        }
        break;
      case "email_saved":
        st.email = typeof f.status === "string" ? f.status : "";
        st.emailError = "";
        break;
      case "typing":
        if (st.conv && f.conversation_id === st.conv.id && f.sender_kind === "agent") {
          st.typingUntil = Date.now() + 5000;
          st.typingName = f.sender_name || "";
          clearTimeout(typingTimer);
          typingTimer = setTimeout(render, 5050);
        }
        break;
      case "read":
        if (st.conv && f.conversation_id === st.conv.id && typeof f.seq === "number") {
          const k = f.sender_kind === "agent" ? "agent_read_seq" : "visitor_read_seq";
          if (!(st.conv[k] >= f.seq)) st.conv[k] = f.seq;
        }
        break;
      case "announcement": {
        const a = f.announcement;
        if (a && typeof a.id === "string" && typeof a.text === "string") st.anns.set(a.id, a);
        break;
      }
      case "announcement_withdrawn":
        st.anns.delete(f.announcement_id);
        break;
      case "error": {
        const p = st.pending.find((x) => x.client_id === f.ref);
        if (p) { p.failed = true; p.error = f.error || ""; }
        if (f.ref === "sync") syncing = false;
        if (f.ref === "email") st.emailError = T.emailInvalid;
        break;
      }
    }
    render();
  }

  const publicMessage = (m) => ({ id: m.id, conversation_id: m.conversation_id, seq: m.seq, sender_kind: m.sender_kind, sender_name: m.sender_name || "", body: m.body, created_at: m.created_at });

  function bumpUnread() {
    st.unread++;
    emit("unread", st.unread);
  }

  function setConn(c) {
    st.conn = c;
    render();
  }

  // loadDepartments fetches the departments the picker offers. One of them
  // is used without asking; none, or a failure, means no picker: the
  // shopper writes to whoever is there.
  async function loadDepartments() {
    try {
      const res = await fetch(KEFU + "/api/departments/public", { credentials: "omit" });
      const data = res.ok ? await res.json() : null;
      const list = data && Array.isArray(data.departments) ? data.departments.filter((d) => d && typeof d.id === "string" && typeof d.name === "string") : [];
      st.departments = list;
      if (list.length === 1 && !st.department) st.department = list[0].id;
    } catch (e) {
      st.departments = [];
    }
    render();
  }

  // pickerShown: the shop asked for the picker, there is a choice to make,
  // the page did not name a department, and no conversation is open (its
  // department is set) nor a message on its way.
  const pickerShown = () => cfg.picker && !!st.departments && st.departments.length > 1 && !cfg.department && !pageDepartment &&
    !(st.conv && st.conv.status !== "resolved") && st.pending.length === 0;

  function pick(id) {
    st.department = id;
    st.picked = true;
    render();
    if (ui) ui.input.focus();
  }

  function submit(text) {
    const body = text.replace(/^\s*\n|\s+$/g, ""); // drop blank first lines and trailing space
    if (!body.trim()) return;
    const p = { client_id: uuid(), body, created_at: new Date().toISOString() };
    st.pending.push(p);
    savePending();
    sendPending(p);
    render();
  }

  // typed sends a typing frame at most every 2 s while the shopper types.
  // Keystrokes inside the 2 s leave one trailing frame for its end, so a
  // shopper who starts typing just after sending still shows as typing.
  let typingLater = 0;
  function typed() {
    if (!st.conv || st.conv.status === "resolved") return;
    const wait = 2100 - (Date.now() - typingSentAt);
    if (wait > 0) {
      if (!typingLater) typingLater = setTimeout(() => { typingLater = 0; if (ui && ui.input.value.trim()) typed(); }, wait);
      return;
    }
    if (send({ type: "typing", conversation_id: st.conv.id })) typingSentAt = Date.now();
  }

  // markRead reports the messages the shopper can see: the panel is open,
  // the page visible, and they are rendered.
  function markRead() {
    if (!st.conv || !st.open || document.hidden || !st.history) return;
    const seq = st.seq;
    if (seq <= st.readSent || seq <= (st.conv.visitor_read_seq || 0)) return;
    if (send({ type: "read", conversation_id: st.conv.id, seq })) st.readSent = seq;
  }

  // upload sends a file over HTTP (docs/api.md, Files); its message comes
  // back over the socket like any other. A refusal is shown and nothing
  // appears in the chat.
  async function upload(file) {
    const u = { client_id: uuid(), name: file.name || "file", error: "" };
    st.uploads = st.uploads.filter((x) => !x.error);
    st.uploads.push(u);
    render();
    const token = store.get(KEY_TOKEN);
    let q = "client_id=" + encodeURIComponent(u.client_id) + "&name=" + encodeURIComponent(u.name);
    if (st.conv && st.conv.status !== "resolved") q += "&conversation_id=" + encodeURIComponent(st.conv.id);
    try {
      const res = await fetch(KEFU + "/files?" + q, { method: "POST", body: file, headers: { Authorization: "Visitor " + (token || "") }, credentials: "omit" });
      let data = null;
      try { data = await res.json(); } catch (e) { /* not JSON */ }
      if (!res.ok) {
        const code = data && data.error && data.error.code;
        u.error = res.status === 413 ? T.fileTooLarge : res.status === 409 ? T.fileNoChat : code === "invalid" ? T.fileRefused : T.fileFailed;
      } else {
        st.uploads = st.uploads.filter((x) => x !== u);
        if (data && data.message) { addMessage(data.message); }
      }
    } catch (e) {
      u.error = T.fileFailed;
    }
    render();
  }

  function dismiss(id) {
    if (!dismissed.includes(id)) dismissed.push(id);
    dismissed = dismissed.slice(-200);
    store.set(KEY_DISMISSED, JSON.stringify(dismissed));
    render();
  }

  // safeLink returns link if it is an absolute http(s) URL, else "" (the
  // server checks too; a page never opens javascript: from us).
  function safeLink(link) {
    if (typeof link !== "string" || !link) return "";
    try {
      const u = new URL(link);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : "";
    } catch (e) { return ""; }
  }

  // visibleAnns is what the shopper sees now: not dismissed, not expired.
  function visibleAnns() {
    const now = Date.now();
    const out = [];
    let next = Infinity;
    for (const a of st.anns.values()) {
      if (dismissed.includes(a.id)) continue;
      const exp = a.expires_at ? Date.parse(a.expires_at) : NaN;
      if (!isNaN(exp)) {
        if (exp <= now) continue;
        next = Math.min(next, exp);
      }
      out.push(a);
    }
    clearTimeout(expiryTimer);
    if (next !== Infinity) expiryTimer = setTimeout(render, Math.min(2147483000, next - now + 50));
    return out;
  }

  // ---- rendering ----------------------------------------------------------
  // Every text a person typed goes in with textContent, never innerHTML.
  let T = null; // strings of the chosen language
  let ui = null; // elements, once built

  const CSS = `
:host { all: initial !important; }
[hidden] { display: none !important; }
.root { --accent: var(--kefu-accent, #2f6fed); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC", "Microsoft YaHei", sans-serif; color: #1f2430; -webkit-font-smoothing: antialiased; }
.root *, .root *::before, .root *::after { box-sizing: border-box; }
.launcher { position: fixed; bottom: 20px; right: 20px; z-index: 2147483000; width: 56px; height: 56px; border-radius: 50%; border: 0; padding: 0; margin: 0; background: var(--accent); color: #fff; cursor: pointer; display: flex; align-items: center; justify-content: center; box-shadow: 0 6px 20px rgba(20, 30, 60, .28); transition: transform .15s ease; }
.launcher:hover { transform: scale(1.05); }
.launcher:focus-visible, button:focus-visible, textarea:focus-visible { outline: 3px solid #ffb020; outline-offset: 2px; }
.left .launcher { right: auto; left: 20px; }
.launcher svg { width: 26px; height: 26px; }
.badge { position: absolute; top: -3px; right: -3px; min-width: 20px; height: 20px; padding: 0 6px; border-radius: 10px; background: #e5484d; color: #fff; font-size: 12px; font-weight: 700; line-height: 20px; text-align: center; border: 2px solid #fff; }
.panel { position: fixed; bottom: 88px; right: 20px; z-index: 2147483001; width: 370px; height: 560px; max-height: calc(100vh - 108px); display: flex; flex-direction: column; background: #fff; border-radius: 14px; overflow: hidden; box-shadow: 0 12px 48px rgba(20, 30, 60, .25); }
.left .panel { right: auto; left: 20px; }
header { background: var(--accent); color: #fff; padding: 14px 12px 12px 16px; display: flex; align-items: flex-start; gap: 8px; }
.htext { flex: 1; min-width: 0; }
h2 { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.3; }
.status { margin: 2px 0 0; font-size: 12px; opacity: .92; display: flex; align-items: center; gap: 6px; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: #f5c451; flex: none; }
.online .dot { background: #3ddc84; }
.offline .dot, .stopped .dot { background: #ff7b7b; }
.close { flex: none; width: 32px; height: 32px; border: 0; border-radius: 8px; background: transparent; color: #fff; cursor: pointer; display: flex; align-items: center; justify-content: center; padding: 0; }
.close:hover { background: rgba(255, 255, 255, .18); }
.close svg { width: 18px; height: 18px; }
.banner { padding: 9px 16px; font-size: 13px; background: #f3f6fd; color: #34405a; border-bottom: 1px solid #e6eaf3; }
.anns { display: flex; flex-direction: column; gap: 6px; }
.root:not(.is-open) .anns { position: fixed; bottom: 88px; right: 20px; z-index: 2147483000; width: 320px; max-width: calc(100vw - 40px); }
.left:not(.is-open) .anns { right: auto; left: 20px; }
.is-open .anns { gap: 0; }
.ann { display: flex; align-items: flex-start; gap: 8px; padding: 9px 10px 9px 14px; font-size: 13px; background: #eef4ff; color: #1d3a7a; border-left: 4px solid #2f6fed; }
.root:not(.is-open) .ann { border-radius: 10px; box-shadow: 0 6px 20px rgba(20, 30, 60, .18); }
.ann.promotion { background: #fff6e5; color: #6b4300; border-left-color: #f5a524; }
.ann.warning { background: #fff0f0; color: #8a1c20; border-left-color: #e5484d; }
.ann-text { flex: 1; min-width: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.ann-link { margin-left: 6px; color: inherit; font-weight: 650; }
.ann-x { flex: none; border: 0; background: transparent; color: inherit; cursor: pointer; width: 24px; height: 24px; padding: 0; border-radius: 6px; display: flex; align-items: center; justify-content: center; }
.ann-x:hover { background: rgba(0, 0, 0, .07); }
.ann-x svg { width: 14px; height: 14px; }
.away { padding: 10px 14px; font-size: 13px; background: #fff8e6; color: #5c4300; border-bottom: 1px solid #f3dea4; }
.away p { margin: 0 0 6px; }
.away form { padding: 0; border: 0; background: none; gap: 6px; align-items: center; }
.away input { flex: 1; min-width: 0; padding: 7px 10px; border: 1px solid #d6dbe6; border-radius: 8px; font: inherit; }
.away button { border: 0; border-radius: 8px; padding: 8px 12px; background: var(--accent); color: #fff; font: inherit; font-weight: 600; cursor: pointer; }
.away .err { color: #a3262a; margin: 6px 0 0; }
.picker { padding: 10px 14px; font-size: 13px; background: #f7f9fe; border-bottom: 1px solid #e6eaf3; }
.picker-text { margin: 0 0 8px; color: #34405a; }
.picker-list { display: flex; flex-wrap: wrap; gap: 6px; }
.picker-dept { border: 1px solid var(--accent); background: #fff; color: var(--accent); border-radius: 16px; padding: 6px 12px; font: inherit; font-weight: 600; cursor: pointer; }
.picker-dept:hover { background: var(--accent); color: #fff; }
.picker-change { border: 0; background: none; color: var(--accent); font: inherit; text-decoration: underline; cursor: pointer; padding: 0; }
.typing { padding: 0 16px 4px; font-size: 12px; color: #7a8399; background: #fafbfd; font-style: italic; }
.upload { padding: 6px 14px; font-size: 12.5px; background: #f3f6fd; color: #34405a; display: flex; gap: 8px; align-items: center; }
.upload.err { background: #fff0f0; color: #a3262a; }
.upload button { border: 0; background: none; color: inherit; cursor: pointer; font: inherit; text-decoration: underline; padding: 0; }
.bubble img { display: block; max-width: 100%; max-height: 220px; border-radius: 8px; }
.bubble a { color: inherit; }
.seen { color: #2f6fed; font-weight: 600; }
.clip { flex: none; width: 36px; height: 40px; border: 0; border-radius: 10px; background: transparent; color: #5b6478; cursor: pointer; display: flex; align-items: center; justify-content: center; padding: 0; }
.clip:hover { background: #f0f2f7; }
.clip svg { width: 20px; height: 20px; }
.log { flex: 1; overflow-y: auto; margin: 0; padding: 14px 14px 6px; list-style: none; background: #fafbfd; }
.msg { display: flex; flex-direction: column; align-items: flex-start; margin: 0 0 10px; }
.msg.me { align-items: flex-end; }
.bubble { max-width: 82%; padding: 8px 12px; border-radius: 14px 14px 14px 4px; background: #fff; border: 1px solid #e3e7ef; white-space: pre-wrap; word-wrap: break-word; overflow-wrap: anywhere; font-size: 14px; }
.me .bubble { background: var(--accent); color: #fff; border-color: transparent; border-radius: 14px 14px 4px 14px; }
.sys .bubble, .greet .bubble { background: #eef1f7; border-color: transparent; color: #3a4560; }
.pending .bubble { opacity: .65; }
.failed .bubble { opacity: 1; background: #fff0f0; color: #a3262a; border: 1px solid #f3c2c4; }
.meta { margin-top: 3px; font-size: 11px; color: #7a8399; display: flex; gap: 6px; align-items: center; }
.retry { border: 0; background: none; color: #c0282d; font: inherit; font-weight: 650; cursor: pointer; padding: 0; text-decoration: underline; }
form { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px; border-top: 1px solid #e6eaf3; background: #fff; margin: 0; }
textarea { flex: 1; resize: none; min-height: 40px; max-height: 120px; padding: 9px 12px; border: 1px solid #d6dbe6; border-radius: 10px; font: inherit; color: inherit; background: #fff; line-height: 1.4; margin: 0; }
textarea:focus { border-color: var(--accent); outline: none; box-shadow: 0 0 0 3px rgba(47, 111, 237, .15); }
.send { flex: none; width: 40px; height: 40px; border: 0; border-radius: 10px; background: var(--accent); color: #fff; cursor: pointer; display: flex; align-items: center; justify-content: center; padding: 0; }
.send svg { width: 18px; height: 18px; }
.foot { text-align: center; font-size: 10.5px; color: #9aa2b5; padding: 0 0 6px; background: #fff; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 479px) {
  .panel, .left .panel { inset: 0; width: 100%; height: 100%; max-height: none; border-radius: 0; }
  .root.is-open .launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) { .launcher { transition: none; } }
`;

  const SVG = "http://www.w3.org/2000/svg";
  function icon(paths) {
    const s = document.createElementNS(SVG, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("fill", "none");
    s.setAttribute("stroke", "currentColor");
    s.setAttribute("stroke-width", "2");
    s.setAttribute("stroke-linecap", "round");
    s.setAttribute("stroke-linejoin", "round");
    for (const d of paths) {
      const p = document.createElementNS(SVG, "path");
      p.setAttribute("d", d);
      s.appendChild(p);
    }
    return s;
  }
  const ICON_CHAT = ["M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-5A8 8 0 1 1 21 12z"];
  const ICON_X = ["M6 6l12 12", "M18 6L6 18"];
  const ICON_SEND = ["M22 2L11 13", "M22 2l-7 20-4-9-9-4 20-7z"];
  const ICON_CLIP = ["M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5"];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function build() {
    const host = document.createElement("kefu-widget");
    host.id = "kefu-widget";
    if (cfg.color) host.style.setProperty("--kefu-accent", cfg.color);
    const root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", "", CSS)); // old browsers; blocked by strict CSP
    }
    const wrap = el("div", "root " + cfg.position);
    wrap.lang = cfg.lang;

    const launcher = el("button", "launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-controls", "kefu-panel");
    launcher.appendChild(icon(ICON_CHAT));
    const badge = el("span", "badge");
    badge.setAttribute("aria-hidden", "true");
    launcher.appendChild(badge);

    const panel = el("section", "panel");
    panel.id = "kefu-panel";
    panel.setAttribute("role", "dialog");
    const header = el("header");
    const htext = el("div", "htext");
    const title = el("h2", "title");
    title.id = "kefu-title";
    panel.setAttribute("aria-labelledby", "kefu-title");
    const status = el("p", "status");
    status.setAttribute("role", "status");
    const dot = el("span", "dot");
    const statusText = el("span", "status-text");
    status.append(dot, statusText);
    htext.append(title, status);
    const close = el("button", "close");
    close.type = "button";
    close.appendChild(icon(ICON_X));
    header.append(htext, close);

    const anns = el("div", "anns");
    anns.setAttribute("role", "region");
    anns.setAttribute("aria-live", "polite");
    anns.addEventListener("click", (e) => {
      const b = e.target.closest && e.target.closest(".ann-x");
      if (b) dismiss(b.dataset.id);
    });
    const banner = el("div", "banner");
    banner.setAttribute("aria-live", "polite");
    const away = el("div", "away");
    away.setAttribute("role", "status");
    const awayText = el("p", "away-text");
    const awayForm = el("form", "away-form");
    const awayLabel = el("label", "sr");
    awayLabel.htmlFor = "kefu-email";
    const awayEmail = el("input");
    awayEmail.id = "kefu-email";
    awayEmail.type = "email";
    awayEmail.autocomplete = "email";
    awayEmail.maxLength = 254;
    const awaySave = el("button");
    awaySave.type = "submit";
    awayForm.append(awayLabel, awayEmail, awaySave);
    const awayErr = el("p", "err");
    away.append(awayText, awayForm, awayErr);
    awayForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const v = awayEmail.value.trim();
      if (!v || !awayEmail.checkValidity()) { st.emailError = T.emailInvalid; render(); return; }
      st.emailError = "";
      if (!send({ type: "email", email: v })) st.emailError = T.emailOffline;
      render();
    });
    // The department picker: a question and one button per department,
    // then the choice with a way to change it.
    const picker = el("div", "picker");
    picker.setAttribute("role", "group");
    const pickerText = el("p", "picker-text");
    const pickerList = el("div", "picker-list");
    picker.append(pickerText, pickerList);
    picker.addEventListener("click", (e) => {
      const b = e.target.closest && e.target.closest("button");
      if (!b) return;
      if (b.dataset.department) pick(b.dataset.department);
      else if (b.classList.contains("picker-change")) { st.picked = false; st.department = ""; render(); }
    });
    const log = el("ol", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.tabIndex = 0;

    const form = el("form");
    const label = el("label", "sr");
    label.htmlFor = "kefu-input";
    const input = el("textarea");
    input.id = "kefu-input";
    input.rows = 1;
    input.maxLength = 4096;
    const sendBtn = el("button", "send");
    sendBtn.type = "submit";
    sendBtn.appendChild(icon(ICON_SEND));
    const clip = el("button", "clip");
    clip.type = "button";
    clip.appendChild(icon(ICON_CLIP));
    const file = el("input", "file");
    file.type = "file";
    file.hidden = true;
    clip.addEventListener("click", () => file.click());
    file.addEventListener("change", () => { for (const f of file.files) upload(f); file.value = ""; });
    form.append(label, clip, file, input, sendBtn);
    const typing = el("div", "typing");
    typing.setAttribute("aria-live", "polite");
    const uploads = el("div", "uploads");
    uploads.setAttribute("role", "status");
    uploads.addEventListener("click", (e) => {
      const b = e.target.closest && e.target.closest("button[data-client-id]");
      if (b) { st.uploads = st.uploads.filter((x) => x.client_id !== b.dataset.clientId); render(); }
    });
    const foot = el("div", "foot");
    panel.append(header, banner, away, picker, log, typing, uploads, form, foot);
    wrap.append(panel, launcher);
    root.appendChild(wrap);

    launcher.addEventListener("click", () => (st.open ? api.close() : api.open()));
    close.addEventListener("click", () => api.close());
    panel.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); api.close(); } });
    form.addEventListener("submit", (e) => { e.preventDefault(); submit(input.value); input.value = ""; autosize(); input.focus(); });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : sendBtn.click(); }
    });
    const autosize = () => { input.style.height = "auto"; input.style.height = Math.min(120, input.scrollHeight + 2) + "px"; };
    input.addEventListener("input", () => { autosize(); typed(); });
    log.addEventListener("click", (e) => {
      const b = e.target.closest && e.target.closest(".retry");
      if (!b) return;
      const p = st.pending.find((x) => x.client_id === b.dataset.clientId);
      if (p) { sendPending(p); render(); }
    });

    (document.body || document.documentElement).appendChild(host);
    ui = { host, wrap, launcher, badge, panel, header, title, status, statusText, close, anns, banner, away, awayText, awayForm, awayLabel, awayEmail, awaySave, awayErr, picker, pickerText, pickerList, log, typing, uploads, form, clip, file, input, sendBtn, label, foot };
  }

  const fmtTime = (iso) => {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString(cfg.lang, { hour: "2-digit", minute: "2-digit" });
  };

  // fmtOpening is when business hours open next, in the shopper's own
  // time zone and language ("" if unknown).
  const fmtOpening = (iso) => {
    const d = iso ? new Date(iso) : null;
    return d && !isNaN(d) ? d.toLocaleString(cfg.lang, { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }) : "";
  };

  function render() {
    if (!ui) return;
    const title = cfg.title || T.title;
    ui.title.textContent = title;
    ui.wrap.classList.toggle("is-open", st.open);
    ui.panel.hidden = !st.open;
    ui.launcher.setAttribute("aria-expanded", String(st.open));
    ui.launcher.setAttribute("aria-label", (st.open ? T.closeChat : T.openChat) + (st.unread ? ", " + T.unread(st.unread) : ""));
    ui.badge.hidden = !st.unread;
    ui.badge.textContent = st.unread > 99 ? "99+" : String(st.unread);
    ui.close.setAttribute("aria-label", T.closeChat);
    ui.input.placeholder = T.placeholder;
    ui.label.textContent = T.messageLabel;
    ui.sendBtn.setAttribute("aria-label", T.send);
    ui.log.setAttribute("aria-label", T.messages);
    ui.foot.textContent = T.poweredBy;

    ui.status.className = "status " + st.conn;
    ui.statusText.textContent = st.conn === "online" ? T.online : st.conn === "offline" ? T.reconnectIn(st.retryIn) : st.conn === "stopped" ? T.stopped : T.connecting;

    let banner = "";
    const c = st.conv;
    if (c && c.status === "queued") {
      banner = st.position ? T.position(st.position) : T.queued;
      if (st.position) banner += " · " + (st.wait != null ? T.wait(Math.max(1, Math.round(st.wait / 60))) : T.waitUnknown);
    } else if (c && c.status === "assigned" && c.agent_name) banner = T.assigned(c.agent_name);
    else if (c && c.status === "resolved") banner = T.resolved;
    ui.banner.hidden = !banner;
    ui.banner.textContent = banner;
    renderAnns();

    // Nobody could answer (closed, or nobody online): ask where to mail
    // replies, or say they wait here.
    const a = st.away;
    ui.away.hidden = !a;
    if (a) {
      const when = a.closed ? fmtOpening(a.opens_at) : "";
      ui.awayText.textContent = st.email ? T.emailSaved(st.email)
        : a.closed ? (a.email_replies ? T.closedEmail(when) : T.closedWait(when))
        : a.email_replies ? T.awayEmail : T.awayWait;
      ui.awayForm.hidden = !a.email_replies || !!st.email;
      ui.awayLabel.textContent = T.emailLabel;
      ui.awayEmail.placeholder = T.emailPlaceholder;
      ui.awaySave.textContent = T.emailSave;
      ui.awayErr.hidden = !st.emailError;
      ui.awayErr.textContent = st.emailError;
    }

    renderPicker();

    const log = ui.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const items = [];
    const greet = el("li", "msg greet");
    greet.appendChild(el("div", "bubble", cfg.greeting || T.greeting));
    items.push(greet);
    const seqs = Array.from(st.msgs.keys()).sort((a, b) => a - b);
    let lastMine = 0; // "Seen" goes under the shopper's newest message the agent has read
    for (const seq of seqs) if (st.msgs.get(seq).sender_kind === "visitor" && (c && (c.agent_read_seq || 0) >= seq)) lastMine = seq;
    for (const seq of seqs) {
      const m = st.msgs.get(seq);
      const kind = m.sender_kind === "visitor" ? "me" : m.sender_kind === "system" ? "sys" : "them";
      const li = el("li", "msg " + kind);
      li.dataset.seq = String(seq);
      li.appendChild(bubble(m));
      const meta = el("div", "meta");
      const who = kind === "me" ? T.you : kind === "sys" ? T.system : m.sender_name || T.agent;
      meta.appendChild(el("span", "who", who));
      const t = el("time", "", fmtTime(m.created_at));
      t.dateTime = m.created_at || "";
      meta.appendChild(t);
      if (kind === "me" && seq === lastMine && c && (c.agent_read_seq || 0) >= seq) meta.appendChild(el("span", "seen", T.seen));
      li.appendChild(meta);
      items.push(li);
    }
    for (const p of st.pending) {
      const li = el("li", "msg me " + (p.failed ? "failed" : "pending"));
      li.dataset.clientId = p.client_id;
      li.appendChild(el("div", "bubble", p.body));
      const meta = el("div", "meta");
      if (p.failed) {
        meta.appendChild(el("span", "state", T.failed + (p.error ? ": " + p.error : "")));
        const b = el("button", "retry", T.retry);
        b.type = "button";
        b.dataset.clientId = p.client_id;
        meta.appendChild(b);
      } else meta.appendChild(el("span", "state", T.sending));
      li.appendChild(meta);
      items.push(li);
    }
    log.replaceChildren(...items);
    if (atBottom || st.open) log.scrollTop = log.scrollHeight;

    const typing = st.typingUntil > Date.now();
    ui.typing.hidden = !typing;
    ui.typing.textContent = typing ? T.typing(st.typingName || (c && c.agent_name) || T.agent) : "";
    ui.clip.setAttribute("aria-label", T.attach);
    ui.clip.title = T.attach;
    ui.uploads.replaceChildren(...st.uploads.map((u) => {
      const d = el("div", "upload" + (u.error ? " err" : ""));
      d.appendChild(el("span", "", u.error ? T.fileError(u.name, u.error) : T.uploading(u.name)));
      if (u.error) {
        const b = el("button", "", T.dismiss);
        b.type = "button";
        b.dataset.clientId = u.client_id;
        d.appendChild(b);
      }
      return d;
    }));
    markRead();
  }

  // ---- fresh file links -----------------------------------------------------
  // A file's link is signed and works until its exp (15 minutes by default),
  // but a shop page stays open longer: an image first shown after that, or a
  // download clicked late, needs a new link (GET /files/{id}/link). Each
  // link is refreshed at most once because it failed, and a link the server
  // just gave that fails before its own expiry is a real failure, shown as
  // such and not retried: no loops. (The console's links.js does the same.)
  const links = { fresh: new Map(), given: new Set(), tried: new Set(), busy: new Map() };
  const absURL = (u) => { try { return new URL(u, KEFU).href; } catch (e) { return ""; } };
  const linkExpiry = (u) => { try { const e = Number(new URL(u, KEFU).searchParams.get("exp")); return e > 0 ? e * 1000 : 0; } catch (e) { return 0; } };
  const linkExpired = (u) => { const e = linkExpiry(u); return e > 0 && e <= Date.now(); };
  function linkFor(a) {
    const f = links.fresh.get(a.id);
    return f && linkExpiry(f) > linkExpiry(a.url) ? f : absURL(a.url);
  }
  function refreshLink(a, failed) {
    failed = absURL(failed);
    if (links.busy.has(a.id)) return links.busy.get(a.id);
    if (links.tried.has(failed) || (links.given.has(failed) && !linkExpired(failed))) return Promise.resolve("");
    links.tried.add(failed);
    const token = store.get(KEY_TOKEN);
    const p = fetch(KEFU + "/files/" + encodeURIComponent(a.id) + "/link", { headers: { Authorization: "Visitor " + (token || "") }, credentials: "omit", cache: "no-store" })
      .then((res) => (res.ok ? res.json() : null))
      .then((r) => {
        const u = r && typeof r.url === "string" ? absURL(r.url) : "";
        if (!u) return "";
        links.given.add(u);
        links.fresh.set(a.id, u);
        render();
        return u;
      })
      .catch(() => "")
      .finally(() => links.busy.delete(a.id));
    links.busy.set(a.id, p);
    return p;
  }
  // wireLink makes an image refresh its link on a load error, and a link
  // clicked after expiry open a fresh one.
  function wireLink(a, link, img) {
    if (img) img.addEventListener("error", () => { refreshLink(a, img.src); });
    link.addEventListener("click", (e) => {
      const u = linkFor(a);
      if (!linkExpired(u)) return;
      e.preventDefault();
      refreshLink(a, u).then((fresh) => { if (fresh) window.open(fresh, "_blank", "noopener,noreferrer"); });
    });
  }

  // renderPicker asks for a department until one is picked (the message
  // box waits), then names the choice with a way to change it.
  function renderPicker() {
    const shown = pickerShown();
    const choosing = shown && !st.picked;
    ui.picker.hidden = !shown;
    ui.form.hidden = choosing;
    if (!shown) return;
    ui.picker.setAttribute("aria-label", T.pickDepartment);
    if (choosing) {
      ui.pickerText.textContent = T.pickDepartment;
      ui.pickerList.replaceChildren(...st.departments.map((d) => {
        const b = el("button", "picker-dept", d.name); // the shop's words: text only
        b.type = "button";
        b.dataset.department = d.id;
        return b;
      }));
    } else {
      const d = st.departments.find((x) => x.id === st.department);
      ui.pickerText.textContent = T.pickedDepartment(d ? d.name : "");
      const change = el("button", "picker-change", T.changeDepartment);
      change.type = "button";
      ui.pickerList.replaceChildren(change);
    }
  }

  const IMAGES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
  // bubble is a message's text, or its file: images inline, others as a
  // download link named by the (untrusted, so textContent) file name.
  function bubble(m) {
    const b = el("div", "bubble");
    const a = m.attachment;
    let url = a && a.id ? linkFor(a) : "";
    if (url && !/^https?:/.test(url)) url = "";
    if (!a || !url) { b.textContent = m.body; return b; }
    if (IMAGES.includes(a.type)) {
      const img = el("img");
      // A closed chat downloads no pictures: a shop page should not spend a
      // phone's data on what nobody looks at. Opening it renders again.
      if (st.open) img.src = url;
      img.alt = a.name || "";
      img.loading = "lazy";
      const link = el("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.appendChild(img);
      wireLink(a, link, img);
      b.appendChild(link);
    } else {
      const link = el("a", "file", a.name || m.body);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.download = a.name || "";
      wireLink(a, link, null);
      b.appendChild(link);
    }
    b.classList.add("has-file");
    return b;
  }

  // renderAnns shows the announcement banners: inside the panel under its
  // header when the chat is open, above the launcher when it is closed.
  // Each shown banner is reported once with a seen frame.
  function renderAnns() {
    const list = visibleAnns();
    if (st.open) { if (ui.anns.parentNode !== ui.panel) ui.header.after(ui.anns); }
    else if (ui.anns.parentNode !== ui.wrap) ui.wrap.insertBefore(ui.anns, ui.launcher);
    ui.anns.setAttribute("aria-label", T.announcements);
    ui.anns.hidden = list.length === 0;
    ui.anns.replaceChildren(...list.map((a) => {
      const level = a.level === "promotion" || a.level === "warning" ? a.level : "info";
      const d = el("div", "ann " + level);
      d.dataset.id = a.id;
      if (level === "warning") d.setAttribute("role", "alert");
      const text = el("span", "ann-text", a.text);
      const link = safeLink(a.link);
      if (link) {
        const l = el("a", "ann-link", T.learnMore);
        l.href = link;
        l.target = "_blank";
        l.rel = "noopener noreferrer";
        text.appendChild(l);
      }
      const x = el("button", "ann-x");
      x.type = "button";
      x.dataset.id = a.id;
      x.setAttribute("aria-label", T.dismiss);
      x.appendChild(icon(ICON_X));
      d.append(text, x);
      return d;
    }));
    if (document.hidden) return;
    for (const a of list) {
      if (seenSent.has(a.id)) continue;
      if (send({ type: "seen", announcement_id: a.id })) seenSent.add(a.id);
    }
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) render(); });

  // ---- public API ---------------------------------------------------------
  const api = {
    version: 1,
    /** open shows the chat panel and moves focus into it. */
    open() {
      if (st.open) return;
      st.open = true;
      store.set(KEY_OPEN, "1", sessionStorage);
      if (st.unread) { st.unread = 0; emit("unread", 0); }
      render();
      if (ui) ui.input.focus();
      emit("open");
    },
    /** close hides the panel and gives focus back to the launcher. */
    close() {
      if (!st.open) return;
      st.open = false;
      store.set(KEY_OPEN, "0", sessionStorage);
      const hadFocus = ui && ui.host.shadowRoot.activeElement;
      render();
      if (ui && hadFocus) ui.launcher.focus();
      emit("close");
    },
    toggle() { st.open ? api.close() : api.open(); },
    /**
     * identify tells Kefu who the shopper is: {id, name, email, signature},
     * or just the signature string your server made (docs/widget.md). Only
     * the signature is sent; the widget reconnects to send it.
     */
    identify(who) {
      if (typeof who === "string") who = { signature: who };
      if (!who || typeof who !== "object") return;
      const next = {};
      for (const k of ["id", "name", "email", "signature"]) if (who[k] != null) next[k] = String(who[k]);
      if (JSON.stringify(next) === JSON.stringify(st.identity)) return;
      st.identity = next;
      if (ws && ws.readyState === 1) { const old = ws; ws = null; old.close(1000); connect(); }
    },
    /** setDepartment routes the shopper's next conversation to a department. */
    setDepartment(id) {
      st.department = id == null ? "" : String(id);
      pageDepartment = st.department !== "";
      st.picked = false;
      render();
    },
    /** on listens for "message", "open", "close" or "unread". */
    on(ev, fn) { if (typeof fn === "function") (listeners[ev] = listeners[ev] || []).push(fn); },
    off(ev, fn) { listeners[ev] = (listeners[ev] || []).filter((x) => x !== fn); },
    get unread() { return st.unread; },
    get isOpen() { return st.open; },
  };

  // Calls the shop made before this file loaded: entries of [method, args]
  // (the stub in docs/widget.md) or [method, arg1, arg2…].
  const queued = window.Kefu && Array.isArray(window.Kefu.q) ? window.Kefu.q : [];
  window.Kefu = api;
  for (const e of queued) {
    if (!Array.isArray(e) || typeof api[e[0]] !== "function") continue;
    const args = e.length === 2 && Array.isArray(e[1]) ? e[1] : e.slice(1);
    try { api[e[0]].apply(api, args); } catch (err) { setTimeout(() => { throw err; }); }
  }

  // ---- boot ---------------------------------------------------------------
  function loadStrings(lang, done) {
    const have = window.KefuI18n && window.KefuI18n[lang];
    if (have) { done(have); return; }
    const s = document.createElement("script");
    s.src = BASE + "widget/i18n/" + lang + ".js";
    s.async = true;
    s.onload = () => {
      const t = window.KefuI18n && window.KefuI18n[lang];
      if (t) done(t);
      else if (lang !== "en") loadStrings("en", done);
    };
    s.onerror = () => { if (lang !== "en") loadStrings("en", done); };
    (document.head || document.documentElement).appendChild(s);
  }

  const whenBody = (fn) => (document.body ? fn() : document.addEventListener("DOMContentLoaded", fn, { once: true }));

  loadStrings(cfg.lang, (strings) => {
    T = strings;
    whenBody(() => {
      build();
      render();
      if (st.open) ui.launcher.setAttribute("aria-expanded", "true");
    });
  });
  if (cfg.picker && !cfg.department) loadDepartments();
  connect();
})();
