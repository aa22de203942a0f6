// AgentSocket keeps one /ws/agent connection open: it reconnects with
// exponential backoff and jitter, refreshes the token first when it is about
// to expire (or the server closed with 4401), and gives up on 4500–4999
// (revoked: log in again). Frames go to onFrame; state changes to onState.

export function wsURL(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

export class AgentSocket {
  constructor(session) {
    this.session = session;
    this.ws = null;
    this.state = "idle"; // connecting | online | offline | stopped
    this.onFrame = () => {};
    this.onState = () => {};
    this.onRevoked = () => {};
    this._attempt = 0;
    this._timer = 0;
    this._stopped = true;
    this._forceRefresh = false;
    window.addEventListener("online", () => { if (!this.ws && !this._stopped) this.connect(); });
  }

  start() { this._stopped = false; this.connect(); }

  stop() {
    this._stopped = true;
    clearTimeout(this._timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this._set("stopped");
  }

  async connect() {
    clearTimeout(this._timer);
    if (this._stopped) return;
    this._set("connecting");
    if (this._forceRefresh || this.session.expiresSoon()) {
      try { await this.session.refresh(); this._forceRefresh = false; } catch (e) {
        if (this._stopped || !this.session.token) return; // lost: onLost took over
        this._schedule();
        return;
      }
    }
    if (this._stopped) return;
    let opened = false;
    const ws = new WebSocket(wsURL("/ws/agent"), ["kefu.v1", "bearer." + this.session.token]);
    this.ws = ws;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      let f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (f.type === "welcome") { this._attempt = 0; this._set("online"); }
      this.onFrame(f);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (e.code >= 4500 && e.code <= 4999) { this._stopped = true; this._set("stopped"); this.onRevoked(e.code); return; }
      // 4401: token expired. A socket refused before opening may be a 401
      // on the upgrade, which the browser hides: refresh before retrying.
      if (e.code === 4401 || !opened) this._forceRefresh = true;
      this._schedule(e.code);
    };
  }

  _schedule(code) {
    if (this._stopped) return;
    const base = code === 1008 ? 5000 : 500;
    const cap = Math.min(30000, base * 2 ** this._attempt++);
    this._set("offline");
    this._timer = setTimeout(() => this.connect(), cap / 2 + Math.random() * cap / 2);
  }

  _set(s) {
    if (this.state === s) return;
    this.state = s;
    this.onState(s);
  }

  /** send returns false when the socket is not open; callers keep what they must resend. */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.state !== "online") return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
