// Agent console: login, the agent socket, conversations and replies.
// State lives in S; every frame updates S and calls render(). Everything a
// person typed is rendered with textContent, never as HTML.
import { Session, ApiError } from "./api.js";
import { AgentSocket } from "./socket.js";
import { t, lang, applyI18n } from "./i18n.js";
import { Admin } from "./admin.js";
import { FileLinks } from "./links.js";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};
const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + "-" + Math.random().toString(36).slice(2));

const session = new Session();
const sock = new AgentSocket(session);
const admin = new Admin(session);
// Links to files expire; images and downloads shown later get fresh ones.
const links = new FileLinks((id) => session.request("GET", "/files/" + encodeURIComponent(id) + "/link"), () => render());

// Conversation record: view (the server's conversation), msgs (seq → message),
// seq (highest seq with no gap below), pending (unacked sends), syncing.
const S = {
  status: "online",
  convs: new Map(),
  mine: new Set(),
  queue: [],
  active: "",
  section: "chats",
  anns: new Map(), // active announcements, shown to agents as a strip
};

const readKey = (id) => "kefu.console.read." + id;
function readSeq(c) {
  const local = Number(localStorage.getItem(readKey(c.view.id)) || 0);
  return Math.max(local, c.view.agent_read_seq || 0);
}
function markRead(c) {
  if (c.seq > readSeq(c)) localStorage.setItem(readKey(c.view.id), String(c.seq));
}
function unread(c) {
  const r = readSeq(c);
  let n = 0;
  for (const m of c.msgs.values()) if (m.seq > r && m.sender_kind === "visitor") n++;
  return n;
}

function conv(view) {
  if (view.agent_id && view.agent_name) names.set(view.agent_id, view.agent_name);
  let c = S.convs.get(view.id);
  if (!c) {
    c = { view, msgs: new Map(), seq: 0, pending: [], syncing: false, typingUntil: 0, readSent: 0 };
    S.convs.set(view.id, c);
  } else c.view = Object.assign({}, c.view, view, { visitor: view.visitor || c.view.visitor });
  return c;
}

function sync(c) {
  if (c.syncing) return;
  c.syncing = sock.send({ type: "sync", conversation_id: c.view.id, after_seq: c.seq, limit: 200 });
}

function addMsg(c, m) {
  const had = c.msgs.get(m.seq);
  if (had && !had.local) return false;
  c.msgs.set(m.seq, m);
  if (m.client_id) c.pending = c.pending.filter((p) => p.client_id !== m.client_id);
  while (c.msgs.has(c.seq + 1)) c.seq++;
  if (m.sender_kind === "agent" && m.seq === c.seq && readSeq(c) >= m.seq - 1) markRead(c);
  return !had;
}

function gap(c) {
  for (const s of c.msgs.keys()) if (s > c.seq) return sync(c);
}

function sendPending(c, p) {
  p.failed = false;
  sock.send({ type: "message", conversation_id: c.view.id, client_id: p.client_id, body: p.body });
}

// ---- attention: sound, notification, title -------------------------------
let audio = null;
document.addEventListener("pointerdown", () => {
  if (!audio && window.AudioContext) audio = new AudioContext();
  if (audio && audio.state === "suspended") audio.resume();
}, { capture: true });

function ding() {
  if (!audio || audio.state !== "running") return;
  const now = audio.currentTime;
  for (const [i, f] of [[0, 880], [0.12, 1318.5]]) {
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.type = "sine";
    o.frequency.value = f;
    g.gain.setValueAtTime(0.0001, now + i);
    g.gain.exponentialRampToValueAtTime(0.2, now + i + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, now + i + 0.25);
    o.connect(g).connect(audio.destination);
    o.start(now + i);
    o.stop(now + i + 0.3);
  }
}

function attention(title, body) {
  if (!document.hidden) return;
  ding();
  if (window.Notification && Notification.permission === "granted") {
    try { new Notification(title, { body: body.slice(0, 140), tag: "kefu" }); } catch (e) { /* some platforms need a service worker */ }
  }
}

// ---- frames ---------------------------------------------------------------
sock.onFrame = (f) => {
  switch (f.type) {
    case "welcome": {
      session.agent = Object.assign({}, session.agent, f.agent);
      S.status = f.status || "online";
      const ids = new Set();
      for (const v of f.conversations || []) { conv(v); ids.add(v.id); }
      for (const id of S.mine) if (!ids.has(id)) { const c = S.convs.get(id); if (c && c.view.status !== "resolved") c.view.status = "resolved"; }
      S.mine = ids;
      S.queue = f.queue || [];
      S.anns.clear(); // the active ones follow this frame again
      for (const id of S.mine) {
        const c = S.convs.get(id);
        c.syncing = false;
        sync(c);
        c.pending.forEach((p) => sendPending(c, p));
      }
      break;
    }
    case "conversation": {
      const v = f.conversation;
      if (!v) break;
      const me = session.agent && session.agent.id;
      const c = conv(v);
      if (v.status === "assigned" && v.agent_id === me) {
        if (!S.mine.has(v.id)) {
          S.mine.add(v.id);
          sync(c);
          attention(t("newConversation"), visitorName(c.view));
        }
      } else if (S.mine.has(v.id) && (v.status === "resolved" || v.agent_id !== me)) {
        S.mine.delete(v.id);
      }
      admin.poke();
      break;
    }
    case "queue":
      S.queue = f.queue || [];
      admin.poke();
      break;
    case "message": {
      const m = f.message;
      const c = S.convs.get(m.conversation_id) || conv({ id: m.conversation_id, status: "assigned", last_seq: 0 });
      if (m.sender_kind === "visitor") c.typingUntil = 0; // their message ends their typing
      if (addMsg(c, m) && m.sender_kind === "visitor") attention(t("newMessage") + " — " + visitorName(c.view), m.body);
      gap(c);
      break;
    }
    case "messages": {
      const c = S.convs.get(f.conversation_id);
      if (!c) break;
      c.syncing = false;
      for (const m of f.messages || []) addMsg(c, m);
      if (f.more) sync(c);
      else gap(c);
      break;
    }
    case "ack": {
      const c = S.convs.get(f.conversation_id);
      if (!c) break;
      const p = c.pending.find((x) => x.client_id === f.client_id);
      if (p && !c.msgs.has(f.seq)) addMsg(c, { id: f.message_id, conversation_id: c.view.id, seq: f.seq, sender_kind: "agent", sender_name: session.agent.name, client_id: p.client_id, body: p.body, created_at: new Date().toISOString(), local: true });
      c.pending = c.pending.filter((x) => x.client_id !== f.client_id);
      gap(c);
      break;
    }
    case "status":
      S.status = f.status;
      break;
    case "transfer": {
      // A conversation handed to this agent (or their department), with
      // the note from whoever passed it on.
      const v = f.conversation;
      const c = v ? conv(v) : S.convs.get(f.conversation_id);
      if (!c) break;
      if (f.transfer) addNote(c, f.transfer);
      const me = session.agent && session.agent.id;
      if (v && v.status === "assigned" && v.agent_id === me && !S.mine.has(v.id)) {
        S.mine.add(v.id);
        sync(c);
        attention(t("transferredToYou"), (f.transfer && f.transfer.note) || visitorName(c.view));
      }
      admin.poke();
      break;
    }
    case "announcement":
      if (f.announcement && f.announcement.id) S.anns.set(f.announcement.id, f.announcement);
      break;
    case "announcement_withdrawn":
      S.anns.delete(f.announcement_id);
      if (S.section === "admin") admin.announcements.load();
      break;
    case "typing": {
      const c = S.convs.get(f.conversation_id);
      if (!c || f.sender_kind !== "visitor") break;
      c.typingUntil = Date.now() + 5000;
      clearTimeout(c.typingTimer);
      c.typingTimer = setTimeout(render, 5050);
      break;
    }
    case "read": {
      const c = S.convs.get(f.conversation_id);
      if (!c || typeof f.seq !== "number") break;
      const k = f.sender_kind === "visitor" ? "visitor_read_seq" : "agent_read_seq";
      if (!(c.view[k] >= f.seq)) c.view[k] = f.seq;
      break;
    }
    case "error": {
      for (const c of S.convs.values()) for (const p of c.pending) if (p.client_id === f.ref) { p.failed = true; p.error = f.error; }
      if (f.ref === "sync") for (const c of S.convs.values()) c.syncing = false;
      break;
    }
  }
  render();
};

sock.onState = () => renderConn();
sock.onRevoked = () => showLogin();
session.onToken = (token) => sock.send({ type: "auth", token });
session.onLost = () => { sock.stop(); showLogin(); };

// ---- rendering -------------------------------------------------------------
const visitorName = (v) => {
  const vis = v && v.visitor;
  if (vis && vis.name) return vis.name;
  return t("anonymous") + " · " + String((vis && vis.id) || v.id || "").slice(0, 6);
};
const fmtTime = (iso) => {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
};
const fmtDate = (iso) => {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
};
const ago = (iso) => {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 60 ? Math.round(s) + "s" : s < 3600 ? Math.round(s / 60) + "m" : Math.round(s / 3600) + "h";
};
const safeURL = (u) => { try { const x = new URL(u); return x.protocol === "http:" || x.protocol === "https:" ? x.href : ""; } catch (e) { return ""; } };

function renderConn() {
  const s = sock.state;
  const c = $("conn");
  c.className = "conn " + s;
  c.textContent = s === "online" ? t("connOnline") : s === "offline" ? t("connOffline") : s === "connecting" ? t("connConnecting") : "";
}

function lastBody(c) {
  let best = null;
  for (const m of c.msgs.values()) if (!best || m.seq > best.seq) best = m;
  return best ? best.body : "";
}

function convItem(c, active) {
  const li = el("li");
  const b = el("button", "conv-item" + (active ? " active" : ""));
  b.type = "button";
  b.dataset.id = c.view.id;
  const top = el("span", "ci-top");
  top.appendChild(el("span", "ci-name", visitorName(c.view)));
  const n = unread(c);
  if (n) top.appendChild(el("span", "badge", String(n)));
  b.appendChild(top);
  b.appendChild(el("span", "ci-last", lastBody(c) || (c.view.visitor && c.view.visitor.page_title) || ""));
  li.appendChild(b);
  return li;
}

function render() {
  if (!session.agent) return;
  const me = session.agent;
  $("me").textContent = me.name;
  $("me").title = me.email;
  $("status").value = S.status;
  $("status").className = S.status;
  $("tab-admin").hidden = me.role !== "admin";
  $("notify").hidden = !(window.Notification && Notification.permission === "default");
  renderConn();
  renderAnns();

  // Viewing a conversation in a visible tab reads it.
  const active = S.convs.get(S.active);
  if (active && !document.hidden && S.section === "chats") markRead(active);

  const mine = [...S.mine].map((id) => S.convs.get(id)).filter(Boolean)
    .sort((a, b) => Date.parse(b.view.last_message_at || 0) - Date.parse(a.view.last_message_at || 0));
  $("mine").replaceChildren(...mine.map((c) => convItem(c, c.view.id === S.active)));
  $("mine-empty").hidden = mine.length > 0;

  $("queue").replaceChildren(...S.queue.map((v) => {
    const li = el("li", "queue-item");
    li.appendChild(el("span", "ci-name", visitorName(v)));
    li.appendChild(el("span", "ci-last", t("waiting", ago(v.queued_at))));
    return li;
  }));
  $("queue-empty").hidden = S.queue.length > 0;
  $("queue-count").textContent = S.queue.length ? String(S.queue.length) : "";

  let total = 0;
  for (const id of S.mine) { const c = S.convs.get(id); if (c) total += unread(c); }
  document.title = (total ? "(" + total + ") " : "") + "Kefu console";

  renderActive(active);
  admin.renderQueue(S.queue);
}

// renderAnns shows the store's live announcements above the console, as
// shoppers see them (text only; the link as text too).
function renderAnns() {
  const now = Date.now();
  const list = [...S.anns.values()].filter((a) => !a.expires_at || Date.parse(a.expires_at) > now);
  $("console-anns").hidden = !list.length;
  $("console-anns").setAttribute("aria-label", t("announcements"));
  $("console-anns").replaceChildren(...list.map((a) => {
    const d = el("div", "console-ann " + (a.level === "promotion" || a.level === "warning" ? a.level : "info"));
    d.dataset.id = a.id;
    d.appendChild(el("b", "", t("announcementLabel") + " "));
    d.appendChild(el("span", "ann-text", a.text));
    if (a.link) d.appendChild(el("span", "muted", " · " + a.link));
    return d;
  }));
}

function renderActive(c) {
  $("conv-none").hidden = !!c;
  $("conv-open").hidden = !c;
  $("details").hidden = !c;
  if (!c) return;
  const v = c.view;
  const vis = v.visitor || {};
  $("conv-title").textContent = visitorName(v);
  $("conv-sub").textContent = [vis.email, t(v.status) ].filter(Boolean).join(" · ");
  const open = v.status !== "resolved";
  $("resolve").hidden = !open;
  $("reply-text").disabled = !open;
  $("reply").querySelector("button").disabled = !open;
  $("reply-text").placeholder = open ? t("replyPlaceholder") : t("conversationResolved");

  let lastSeen = 0; // "Seen" goes under the agents' newest message the shopper has read
  for (const [seq, m] of c.msgs) if (m.sender_kind === "agent" && seq <= (v.visitor_read_seq || 0) && seq > lastSeen) lastSeen = seq;
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const items = [];
  for (const seq of [...c.msgs.keys()].sort((a, b) => a - b)) {
    const m = c.msgs.get(seq);
    const kind = m.sender_kind === "agent" ? "me" : m.sender_kind === "system" ? "sys" : "them";
    const li = el("li", "msg " + kind);
    li.dataset.seq = String(seq);
    li.appendChild(bubble(m));
    const meta = el("div", "meta");
    meta.appendChild(el("span", "", kind === "them" ? visitorName(v) : kind === "sys" ? t("system") : m.sender_name || t("you")));
    const tm = el("time", "", fmtTime(m.created_at));
    tm.dateTime = m.created_at;
    meta.appendChild(tm);
    if (seq === lastSeen) meta.appendChild(el("span", "seen", t("seen")));
    li.appendChild(meta);
    items.push(li);
  }
  for (const p of c.pending) {
    const li = el("li", "msg me " + (p.failed ? "failed" : "pending"));
    li.appendChild(el("div", "bubble", p.body));
    const meta = el("div", "meta");
    meta.appendChild(el("span", "", p.failed ? t("failed") + (p.error ? ": " + p.error : "") : t("sending")));
    if (p.failed) {
      const b = el("button", "link retry", t("retry"));
      b.type = "button";
      b.addEventListener("click", () => { sendPending(c, p); render(); });
      meta.appendChild(b);
    }
    li.appendChild(meta);
    items.push(li);
  }
  list.replaceChildren(...items);
  if (atBottom || list.dataset.conv !== v.id) list.scrollTop = list.scrollHeight;
  list.dataset.conv = v.id;
  const typing = c.typingUntil > Date.now();
  $("typing").hidden = !typing;
  $("typing").textContent = typing ? t("typing", visitorName(v)) : "";
  const up = c.upload;
  $("upload-status").hidden = !up;
  $("upload-status").className = "upload-status" + (up && up.error ? " err" : "");
  $("upload-status").textContent = up ? (up.error ? t("fileError", up.name, up.error) : t("uploading", up.name)) : "";
  $("attach").disabled = !open;
  $("attach").setAttribute("aria-label", t("attach"));
  $("attach").title = t("attach");
  markSeen(c);
  renderNotes(c);
  $("transfer").hidden = !open || !S.mine.has(v.id);

  $("d-name").textContent = [vis.name, vis.email].filter(Boolean).join(" · ") || t("anonymous");
  $("d-page-title").textContent = vis.page_title || "";
  const a = $("d-page-url");
  const href = safeURL(vis.page_url || "");
  a.textContent = vis.page_url || "";
  if (href) a.href = href; else a.removeAttribute("href");
  $("d-lang").textContent = vis.lang || "—";
  $("d-status").textContent = t(v.status);
}

const IMAGES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
// bubble is a message's text, or its file: images inline, other files as a
// download link named by the (untrusted: textContent) file name.
function bubble(m) {
  const b = el("div", "bubble");
  const a = m.attachment;
  const url = a && a.id ? safeURL(links.url(a)) : "";
  if (!a || !url) { b.textContent = m.body; return b; }
  const link = el("a", IMAGES.includes(a.type) ? "img" : "file", IMAGES.includes(a.type) ? null : a.name || m.body);
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  let img = null;
  if (IMAGES.includes(a.type)) {
    img = el("img");
    img.src = url;
    img.alt = a.name || "";
    link.appendChild(img);
  } else link.download = a.name || "";
  links.attach(a, link, img);
  b.appendChild(link);
  return b;
}

// ---- transfers --------------------------------------------------------------
const names = new Map(); // agent id → name, from /api/directory and frames
const deptNames = new Map();

function addNote(c, rec) {
  c.notes = c.notes || [];
  if (!c.notes.some((x) => x.id === rec.id)) c.notes.push(rec);
}

async function loadNotes(c) {
  try {
    const r = await session.request("GET", "/api/conversations/" + encodeURIComponent(c.view.id) + "/transfers");
    for (const rec of r.transfers || []) addNote(c, rec);
    render();
  } catch (e) { /* none shown */ }
}

// loadTargets fills the transfer menu: agents from the directory every
// agent may read (offline ones are shown but cannot be picked: a transfer
// goes only to someone connected) and departments.
async function loadTargets() {
  const sel = $("transfer-to");
  const me = session.agent && session.agent.id;
  const opts = [];
  try {
    const r = await session.request("GET", "/api/directory");
    const group = el("optgroup");
    group.label = t("agents");
    for (const a of r.agents || []) {
      names.set(a.id, a.name);
      if (a.id === me) continue;
      const o = el("option", "", t("agentWithStatus", a.name, t(a.status))); // a typed name: text only
      o.value = "agent:" + a.id;
      o.disabled = a.status === "offline";
      group.appendChild(o);
    }
    if (group.childElementCount) opts.push(group);
  } catch (e) { /* none */ }
  try {
    const r = await session.request("GET", "/api/departments");
    const group = el("optgroup");
    group.label = t("departments");
    for (const d of r.departments || []) {
      deptNames.set(d.id, d.name);
      const o = el("option", "", d.name);
      o.value = "dept:" + d.id;
      group.appendChild(o);
    }
    if (group.childElementCount) opts.push(group);
  } catch (e) { /* none */ }
  sel.replaceChildren(...opts);
  if (!opts.length) transferError(t("noTransferTargets"));
}

function transferError(msg) {
  $("transfer-error").textContent = msg || "";
  $("transfer-error").hidden = !msg;
}

function showTransfer(open) {
  $("transfer-form").hidden = !open;
  $("transfer").setAttribute("aria-expanded", String(open));
  transferError("");
  if (open) { loadTargets(); $("transfer-to").focus(); }
}

async function submitTransfer() {
  const c = S.convs.get(S.active);
  const target = $("transfer-to").value;
  if (!c || !target) return;
  const body = { note: $("transfer-note").value.trim() };
  if (target.startsWith("agent:")) body.agent_id = target.slice(6);
  else body.department = target.slice(5);
  $("transfer-send").disabled = true;
  try {
    const r = await session.request("POST", "/api/conversations/" + encodeURIComponent(c.view.id) + "/transfer", body);
    if (r.conversation) conv(r.conversation);
    const me = session.agent && session.agent.id;
    if (!r.conversation || r.conversation.agent_id !== me) S.mine.delete(c.view.id);
    $("transfer-note").value = "";
    showTransfer(false);
    render();
  } catch (err) {
    transferError(err.message);
  } finally {
    $("transfer-send").disabled = false;
  }
}

function renderNotes(c) {
  const me = session.agent && session.agent.id;
  const notes = (c.notes || []).filter((n) => n.note);
  $("transfer-notes").hidden = !notes.length;
  $("transfer-notes").replaceChildren(...notes.map((n) => {
    const li = el("li");
    const from = names.get(n.by_agent_id) || names.get(n.from_agent_id) || t("anotherAgent");
    const to = n.to_agent_id === me ? t("you") : names.get(n.to_agent_id) || deptNames.get(n.to_department_id) || "";
    li.appendChild(el("b", "", t("transferNoteFrom", from, to) + " "));
    li.appendChild(el("span", "note", n.note)); // typed by an agent: text only
    return li;
  }));
}

// markSeen reports the open conversation read up to what is on screen.
function markSeen(c) {
  if (document.hidden || S.section !== "chats" || S.active !== c.view.id || !S.mine.has(c.view.id)) return;
  const seq = c.seq;
  if (seq <= c.readSent || seq <= (c.view.agent_read_seq || 0)) return;
  if (sock.send({ type: "read", conversation_id: c.view.id, seq })) c.readSent = seq;
}

// upload sends a file for the open conversation (docs/api.md, Files); the
// message comes back over the socket. A refusal is shown, nothing is added.
async function upload(c, file) {
  const up = { name: file.name || "file", error: "" };
  c.upload = up;
  render();
  const q = "conversation_id=" + encodeURIComponent(c.view.id) + "&client_id=" + encodeURIComponent(uuid()) + "&name=" + encodeURIComponent(up.name);
  const post = () => fetch("/files?" + q, { method: "POST", body: file, headers: { Authorization: "Bearer " + session.token }, credentials: "same-origin" });
  try {
    let res = await post();
    if (res.status === 401) { await session.refresh(); res = await post(); }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const code = data && data.error && data.error.code;
      up.error = res.status === 413 ? t("fileTooLarge") : code === "invalid" ? t("fileRefused") : (data && data.error && data.error.message) || t("fileFailed");
    } else {
      if (c.upload === up) c.upload = null;
      if (data && data.message) addMsg(c, data.message);
    }
  } catch (e) {
    up.error = t("fileFailed");
  }
  render();
}

let typingSentAt = 0;

// ---- earlier conversations (REST) -----------------------------------------
async function loadEarlier(c) {
  const ul = $("earlier");
  ul.replaceChildren();
  $("earlier-empty").hidden = true;
  const vid = c.view.visitor && c.view.visitor.id;
  if (!vid) { $("earlier-empty").hidden = false; return; }
  let list = [];
  try {
    const r = await session.request("GET", "/api/conversations?status=all&visitor_id=" + encodeURIComponent(vid));
    list = (r.conversations || []).filter((x) => x.id !== c.view.id);
  } catch (e) { /* leave empty */ }
  if (S.active !== c.view.id) return;
  $("earlier-empty").hidden = list.length > 0;
  ul.replaceChildren(...list.map((x) => {
    const li = el("li");
    const d = el("details");
    d.appendChild(el("summary", "", fmtDate(x.queued_at) + " · " + t(x.status)));
    const body = el("ol", "transcript");
    d.appendChild(body);
    d.addEventListener("toggle", async () => {
      if (!d.open || body.childElementCount) return;
      try {
        const r = await session.request("GET", "/api/conversations/" + encodeURIComponent(x.id) + "/messages?limit=500");
        body.replaceChildren(...(r.messages || []).map((m) => {
          const li = el("li", m.sender_kind === "agent" ? "me" : "");
          li.appendChild(el("b", "", (m.sender_kind === "agent" ? m.sender_name || t("you") : t("visitor")) + ": "));
          li.appendChild(document.createTextNode(m.body));
          return li;
        }));
      } catch (e) { /* nothing to show */ }
    });
    li.appendChild(d);
    return li;
  }));
}

function openConv(id) {
  S.active = id;
  const c = S.convs.get(id);
  render();
  showTransfer(false);
  if (c) {
    loadEarlier(c);
    loadNotes(c);
    $("reply-text").focus();
  }
}

// ---- screens ---------------------------------------------------------------
function show(which) {
  $("boot").hidden = true;
  $("login").hidden = which !== "login";
  $("change").hidden = which !== "change";
  $("app").hidden = which !== "app";
}

function showLogin() {
  session.clear();
  S.convs.clear();
  S.mine.clear();
  S.active = "";
  show("login");
  $("login-email").focus();
}

function enter() {
  if (session.agent.must_change_password) {
    show("change");
    $("change-current").focus();
    return;
  }
  show("app");
  render();
  sock.start();
}

function section(name) {
  S.section = name;
  $("chats").hidden = name !== "chats";
  $("admin").hidden = name !== "admin";
  $("tab-chats").setAttribute("aria-pressed", String(name === "chats"));
  $("tab-admin").setAttribute("aria-pressed", String(name === "admin"));
  if (name === "admin") admin.show(); else admin.hide();
  render();
}

function wire() {
  applyI18n();
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").hidden = true;
    try {
      await session.login($("login-email").value.trim(), $("login-password").value);
      $("login-password").value = "";
      enter();
    } catch (err) {
      $("login-error").textContent = err instanceof ApiError && err.status === 401 ? t("badLogin") : err.message;
      $("login-error").hidden = false;
    }
  });
  $("change-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("change-error").hidden = true;
    try {
      await session.changePassword($("change-current").value, $("change-new").value);
      $("change-current").value = $("change-new").value = "";
      enter();
    } catch (err) {
      $("change-error").textContent = err.message;
      $("change-error").hidden = false;
    }
  });
  $("logout").addEventListener("click", async () => {
    sock.stop();
    try { await session.logout(); } catch (e) { /* logged out locally anyway */ }
    showLogin();
  });
  $("status").addEventListener("change", (e) => sock.send({ type: "status", status: e.target.value }));
  $("notify").addEventListener("click", async () => { await Notification.requestPermission(); render(); });
  $("tab-chats").addEventListener("click", () => section("chats"));
  $("tab-admin").addEventListener("click", () => section("admin"));
  $("mine").addEventListener("click", (e) => {
    const b = e.target.closest(".conv-item");
    if (b) openConv(b.dataset.id);
  });
  $("reply").addEventListener("submit", (e) => {
    e.preventDefault();
    const c = S.convs.get(S.active);
    const body = $("reply-text").value.replace(/\s+$/, "");
    if (!c || !body.trim()) return;
    const p = { client_id: uuid(), body };
    c.pending.push(p);
    sendPending(c, p);
    $("reply-text").value = "";
    render();
  });
  // Keystrokes inside the 2 s leave one trailing typing frame for its end.
  let typingLater = 0;
  const typed = () => {
    const c = S.convs.get(S.active);
    if (!c || !S.mine.has(c.view.id)) return;
    const wait = 2100 - (Date.now() - typingSentAt);
    if (wait > 0) {
      if (!typingLater) typingLater = setTimeout(() => { typingLater = 0; if ($("reply-text").value.trim()) typed(); }, wait);
      return;
    }
    if (sock.send({ type: "typing", conversation_id: c.view.id })) typingSentAt = Date.now();
  };
  $("reply-text").addEventListener("input", typed);
  $("transfer").addEventListener("click", () => showTransfer($("transfer-form").hidden));
  $("transfer-cancel").addEventListener("click", () => showTransfer(false));
  $("transfer-form").addEventListener("submit", (e) => { e.preventDefault(); submitTransfer(); });
  $("attach").addEventListener("click", () => $("attach-file").click());
  $("attach-file").addEventListener("change", (e) => {
    const c = S.convs.get(S.active);
    if (c) for (const f of e.target.files) upload(c, f);
    e.target.value = "";
  });
  $("reply-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      $("reply").requestSubmit();
    }
  });
  $("resolve").addEventListener("click", async () => {
    const c = S.convs.get(S.active);
    if (!c) return;
    if (!sock.send({ type: "resolve", conversation_id: c.view.id })) {
      try { const r = await session.request("POST", "/api/conversations/" + c.view.id + "/resolve"); conv(r.conversation); S.mine.delete(c.view.id); render(); } catch (e) { /* shown by state */ }
    }
  });
  document.addEventListener("visibilitychange", render);
  // Session expiry and "waiting 3m" labels need a clock.
  setInterval(() => { if (!$("app").hidden) render(); }, 30e3);
}

async function main() {
  wire();
  try {
    await session.refresh(); // a reload keeps you logged in, via the cookie
    enter();
  } catch (e) {
    showLogin();
  }
}

main();
