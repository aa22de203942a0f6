// REST client and session for the console. The access token lives in memory
// only (a page script cannot leak what it never stored); the refresh token is
// an HttpOnly cookie the browser sends to /api/auth. The session refreshes
// itself a minute before the access token expires and tells listeners, so
// the open socket can send an auth frame.

/** ApiError is a failed request: code is the server's error code (api.md). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || "HTTP " + status);
    this.status = status;
    this.code = code || "";
  }
}

async function call(method, path, { token, body, extra } = {}) {
  const headers = Object.assign({}, extra);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch (e) { /* empty or not JSON */ }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code, err.message);
  }
  return data;
}

/** Session holds who is logged in and their current access token. */
export class Session {
  constructor() {
    this.token = "";
    this.expiresAt = 0;
    this.agent = null;
    this.onToken = () => {}; // (token) after every login or refresh
    this.onLost = () => {}; // the session cannot be refreshed: log in again
    this._timer = 0;
    this._refreshing = null;
  }

  _accept(body) {
    this.token = body.access_token;
    this.expiresAt = Date.parse(body.expires_at) || Date.now() + 5 * 60e3;
    this.agent = body.agent;
    clearTimeout(this._timer);
    const lead = Math.max(5e3, Math.min(60e3, (this.expiresAt - Date.now()) / 4));
    this._timer = setTimeout(() => this.refresh().catch(() => {}), Math.max(1e3, this.expiresAt - Date.now() - lead));
    this.onToken(this.token);
    return body;
  }

  async login(email, password) {
    return this._accept(await call("POST", "/api/auth/login", { body: { email, password } }));
  }

  /** refresh gets a new access token from the cookie; one request at a time, since refresh tokens rotate. */
  refresh() {
    if (!this._refreshing) {
      this._refreshing = call("POST", "/api/auth/refresh")
        .then((b) => this._accept(b))
        .catch((e) => {
          if (e instanceof ApiError && e.status === 401 && this.token) { this.clear(); this.onLost(); }
          throw e;
        })
        .finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }

  /** expiresSoon reports whether the token is gone or within ms of expiring. */
  expiresSoon(ms = 15e3) { return !this.token || this.expiresAt - Date.now() < ms; }

  async changePassword(current, next) {
    return this._accept(await this.request("POST", "/api/me/password", { current_password: current, new_password: next }));
  }

  async logout() {
    try { await call("POST", "/api/auth/logout", { token: this.token }); } finally { this.clear(); }
  }

  clear() {
    clearTimeout(this._timer);
    this.token = "";
    this.agent = null;
    this.expiresAt = 0;
  }

  /** request calls the API with the access token, refreshing once on 401; headers adds request headers (e.g. Idempotency-Key). */
  async request(method, path, body, headers) {
    try {
      return await call(method, path, { token: this.token, body, extra: headers });
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401 || path.startsWith("/api/auth/")) throw e;
      await this.refresh();
      return call(method, path, { token: this.token, body, extra: headers });
    }
  }
}
