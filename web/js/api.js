// Small fetch wrapper, strings and error display: every page's requests to the hub go through
// request() (the staff pages, library and admin, through an Api that keeps their token); the
// live pages (lesson, classroom) use request(), the errors and the strings.
// - The hub authenticates with Bearer tokens only, never cookies: requests omit credentials,
//   and nothing is taken from the HTTP cache (answers describe live state).
// - The staff pages' token (admin key or staff token) lives in sessionStorage under a per-page key.
// - Errors from the hub arrive as application/problem+json (RFC 9457); they become ApiError
//   with the problem's code/title/detail, and showError() puts them in front of the user.
// - Strings: one module per page and language under /static/i18n/, picked by ?lang= or
//   navigator.language. Keys are dotted ("group.name", camelCase names); a last part that
//   spells a value the hub sends (an error code, a state) keeps the hub's spelling, so a key
//   can be built from it: `error.${code}`. tests/web/test_i18n_keys.py checks every use.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = problem.code || `http_${status}`;
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.problem = problem;
  }
}

/** A raw body (bytes, a file) goes as it is; anything else as JSON. */
function isRaw(body) {
  return body instanceof Blob || body instanceof ArrayBuffer || ArrayBuffer.isView(body);
}

/**
 * One request to the hub's API; resolves to the JSON answer (null for 204 or a body that is not
 * JSON) and throws ApiError for any non-2xx answer or a network failure (not for an abort).
 * body: a JSON value, or a Blob / ArrayBuffer / typed array sent as it is (contentType, default
 * its own type or application/octet-stream). query: added to the path, empty values left out.
 * token: sent as Bearer when not empty. onUnauthorized(error): called on a 401 before throwing.
 * as: "json" (the default), "text" or "blob" (a download) for a 2xx answer's body.
 * keepalive: the request goes on after the page is left (fetch's keepalive).
 */
export async function request(
  method,
  path,
  { body, query, token, signal, contentType, onUnauthorized, keepalive, as = "json" } = {},
) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
    }
    const qs = params.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  }
  const headers = { Accept: "application/json, application/problem+json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  // No cookies (the hub never reads them) and no cached answers, on every page.
  const init = { method, headers, signal, credentials: "omit", cache: "no-store" };
  // keepalive: the request outlives the page (a last report as it is left).
  if (keepalive) init.keepalive = true;
  if (body !== undefined && isRaw(body)) {
    headers["Content-Type"] = contentType || body.type || "application/octet-stream";
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, {
      code: "network",
      title: "Network error",
      detail: String(err && err.message ? err.message : err),
    });
  }
  if (response.status === 204) return null;
  // A file to save (an XLSX export): the body as a Blob.
  if (as === "blob" && response.ok) return response.blob();
  const type = response.headers.get("content-type") || "";
  const text = await response.text().catch(() => "");
  let data = null;
  if (text && type.includes("json")) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const problem =
      data && typeof data === "object"
        ? data
        : { title: response.statusText, detail: `HTTP ${response.status}` };
    const error = new ApiError(response.status, problem);
    if (response.status === 401 && onUnauthorized) onUnauthorized(error);
    throw error;
  }
  // A download (CSV): the body as it came.
  return as === "text" ? text : data;
}

export class Api {
  constructor(storageKey) {
    this.storageKey = storageKey;
    this.onUnauthorized = null;
  }

  get token() {
    try {
      return sessionStorage.getItem(this.storageKey) || "";
    } catch {
      return "";
    }
  }

  set token(value) {
    try {
      if (value) sessionStorage.setItem(this.storageKey, value);
      else sessionStorage.removeItem(this.storageKey);
    } catch {
      /* storage disabled: the token lives for this page only */
    }
    this._memory = value || "";
  }

  bearer() {
    return this.token || this._memory || "";
  }

  /** request() with this page's token, unless one is given; a 401 to this page's own token
   * (not to one passed in) calls onUnauthorized. */
  request(method, path, { token, ...opts } = {}) {
    return request(method, path, {
      ...opts,
      token: token ?? this.bearer(),
      onUnauthorized: token === undefined ? this.onUnauthorized : null,
    });
  }

  get(path, query, opts = {}) {
    return this.request("GET", path, { ...opts, query });
  }
  post(path, body, opts = {}) {
    return this.request("POST", path, { ...opts, body });
  }
  patch(path, body, opts = {}) {
    return this.request("PATCH", path, { ...opts, body });
  }
  del(path, opts = {}) {
    return this.request("DELETE", path, opts);
  }
}

/** A JWT has three dot-separated parts; anything else typed at sign-in is the admin key. */
export function looksLikeJwt(token) {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token || "");
}

// ------------------------------------------------------------------ strings

/** ?lang= first, then the browser's languages in order; English otherwise. */
export function pickLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  const candidates = [asked, ...(navigator.languages || []), navigator.language].filter(Boolean);
  for (const candidate of candidates) {
    const wanted = candidate.toLowerCase();
    if (wanted.startsWith("zh")) return "zh-CN";
    if (wanted.startsWith("en")) return "en";
  }
  return "en";
}

/** Load the page's strings and fill every [data-i18n], [data-i18n-<attr>] element. */
export async function loadStrings(page) {
  const lang = pickLanguage();
  const mod = await import(`../i18n/${page}.${lang}.js`);
  const strings = mod.default;
  document.documentElement.lang = lang;
  const t = (key, vars) => format(strings[key] ?? key, vars);
  applyStrings(document, t);
  return { t, lang };
}

export function format(text, vars) {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

export function applyStrings(root, t) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ["aria-label", "placeholder", "title", "alt"]) {
    const dataKey = `data-i18n-${attr}`;
    for (const el of root.querySelectorAll(`[${dataKey}]`)) {
      el.setAttribute(attr, t(el.getAttribute(dataKey)));
    }
  }
}

// ------------------------------------------------------------------ showing errors

/** Put an error in front of the user, in a role="alert" element. */
export function showError(el, error, t, prefixKey) {
  if (!el) return;
  if (!error) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  const tr = t || ((k) => k);
  let text;
  if (error instanceof ApiError) {
    const known = tr(`error.${error.code}`);
    const friendly = known !== `error.${error.code}` ? known : error.title || tr("error.generic");
    text = error.detail && error.detail !== friendly ? `${friendly} (${error.detail})` : friendly;
    if (error.status) text += ` [${error.status} ${error.code}]`;
  } else {
    text = String((error && error.message) || error);
  }
  el.textContent = prefixKey ? `${tr(prefixKey)} ${text}` : text;
  el.hidden = false;
}

// ------------------------------------------------------------------ small helpers

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatDateTime(iso, lang) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "";
  const s = Math.max(0, Math.round(Number(seconds)));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(sec).padStart(2, "0")}`;
}

export function formatBytes(n) {
  if (!n && n !== 0) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** Copy text; falls back to selecting a field and execCommand when the Clipboard API is refused. */
export async function copyText(text, field) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall through */
  }
  try {
    if (field) {
      field.focus();
      field.select();
    }
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

/** Keyboard support for a role="tablist": arrows/Home/End move between tabs. */
export function wireTabs(tablist, onSelect) {
  const tabs = [...tablist.querySelectorAll('[role="tab"]')];
  const select = (tab, focus) => {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute("aria-selected", String(on));
      other.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    }
    if (focus) tab.focus();
    if (onSelect) onSelect(tab);
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (ev) => {
      const i = tabs.indexOf(tab);
      let next = null;
      if (ev.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (ev.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (ev.key === "Home") next = tabs[0];
      else if (ev.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        ev.preventDefault();
        select(next, true);
      }
    });
  }
  return select;
}

/** A yes/no confirmation in a <dialog>; resolves true when confirmed. */
export function confirmDialog(dialog, message) {
  return new Promise((resolve) => {
    dialog.querySelector("[data-confirm-message]").textContent = message;
    const done = () => {
      dialog.removeEventListener("close", done);
      resolve(dialog.returnValue === "yes");
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", done);
    dialog.showModal();
  });
}

/** `YYYY-MM-DDTHH:MM` for a datetime-local input, in local time. */
export function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value (local time) → ISO-8601 with the UTC offset the API requires. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A staff page's sign-in form (#signin-form, #signin-submit, #signin-error): an empty field
 * is refused in place, a refused secret is shown and selected for retyping. */
export function wireSignIn(input, signIn, enter, t) {
  const error = document.getElementById("signin-error");
  const submit = document.getElementById("signin-submit");
  document.getElementById("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const secret = input.value.trim();
    if (!secret) {
      showError(error, new Error(t("signin.required")));
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      await signIn(secret);
      input.value = "";
      await enter();
    } catch (failure) {
      showError(error, failure, t, "signin.failed");
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
}
