/*
 * The REST client. Every request goes to the flowd that served the page.
 * A page opened as /#token=TOKEN (the URL scripts/run.sh prints) takes the
 * token from the fragment, which never reaches the server, and removes it
 * from the address bar and the history. When flowd answers 401 the user is
 * asked once for the token (a dialog in the page). Either way the token is
 * kept in sessionStorage for this tab and sent as "Authorization: Bearer";
 * EventSource cannot send headers, so the event stream carries it as
 * ?access_token= (see docs/rest.md).
 */

const TOKEN_KEY = 'flow.token';

/*
 * Takes token=TOKEN out of the fragment (#token=T, or #/page&token=T) into
 * sessionStorage and rewrites the address without it; returns whether there
 * was one. Runs when this module is loaded, before anything asks for the
 * token, and on every change of the fragment (main.js).
 */
export function takeFragmentToken() {
  const hash = location.hash.replace(/^#/, '');
  const parts = hash.split('&');
  const rest = [];
  let t = null;
  for (const p of parts) {
    if (p.startsWith('token=')) {
      try {
        t = decodeURIComponent(p.slice(6));
      } catch (e) {
        t = p.slice(6);
      }
    } else if (p) {
      rest.push(p);
    }
  }
  if (t === null) return false;
  if (t.trim()) sessionStorage.setItem(TOKEN_KEY, t.trim());
  const left = rest.join('&');
  history.replaceState(history.state, '',
                       location.pathname + location.search + (left ? '#' + left : ''));
  return true;
}
/* Outside a page (the dashboard's unit tests import the modules in Node)
 * there is no address to read. */
if (typeof location !== 'undefined') takeFragmentToken();

export class ApiError extends Error {
  constructor(status, body, url) {
    const msg = (body && (body.message || body.error)) ||
                (status ? 'HTTP ' + status : 'flowd is not reachable');
    super(msg);
    this.status = status;
    this.body = body;
    this.url = url;
  }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

let asking = null;
let declined = false; /* the user cancelled: ask again only when told to */
const tokenListeners = new Set();

export function onToken(fn) { tokenListeners.add(fn); }

/*
 * Shows the token dialog; resolves true when the user gave a token. Only
 * one dialog is open at a time: concurrent 401s share it.
 */
export function askToken() {
  if (asking) return asking;
  const dlg = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  asking = new Promise((resolve) => {
    input.value = '';
    dlg.addEventListener('close', () => {
      const ok = dlg.returnValue === 'ok' && input.value.trim() !== '';
      declined = !ok;
      if (ok) {
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        for (const fn of tokenListeners) fn();
      }
      asking = null;
      resolve(ok);
    }, {once: true});
    dlg.showModal();
  });
  return asking;
}

/*
 * request(method, path, body?) → parsed JSON (or text for non-JSON
 * answers). Throws ApiError with the server's JSON error when not 2xx.
 */
export async function request(method, path, body, retried = false) {
  const headers = {Accept: 'application/json'};
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  const init = {method, headers};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, null, path);
  }
  const type = res.headers.get('Content-Type') || '';
  let data = null;
  if (res.status !== 204) {
    const text = await res.text();
    if (type.includes('json') && text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = {message: 'bad JSON from flowd: ' + e.message};
      }
    } else {
      data = text;
    }
  }
  if (res.status === 401 && !retried) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (!declined && await askToken()) return request(method, path, body, true);
  }
  if (!res.ok) throw new ApiError(res.status, data, path);
  return data;
}

export const get = (p) => request('GET', p);
export const post = (p, b) => request('POST', p, b === undefined ? {} : b);
export const del = (p) => request('DELETE', p);

export const enc = encodeURIComponent;

/*
 * Pulls the list out of a HAL collection: the first array under
 * _embedded, or the body itself when it is an array.
 */
export function items(body) {
  if (Array.isArray(body)) return body;
  if (!body || typeof body !== 'object') return [];
  const emb = body._embedded;
  if (emb && typeof emb === 'object') {
    for (const v of Object.values(emb))
      if (Array.isArray(v)) return v;
  }
  for (const k of ['items', 'content', 'streams', 'apps', 'instances',
                   'counters', 'names'])
    if (Array.isArray(body[k])) return body[k];
  return [];
}

/* Fetches every page of a paged HAL collection (bounded). */
export async function all(path) {
  const out = [];
  let url = path;
  for (let i = 0; url && i < 50; i++) {
    const body = await get(url);
    out.push(...items(body));
    const next = body && body._links && body._links.next;
    url = next && next.href ? new URL(next.href, location.href).pathname +
                                  new URL(next.href, location.href).search
                            : null;
  }
  return out;
}
