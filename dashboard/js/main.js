/*
 * The dashboard's entry point: hash routing (#/, #/streams, #/runtime,
 * #/analytics, #/saga, #/apps, so page paths never collide with REST paths), the
 * connection indicator and banner, and the live state.
 */

import * as events from './events.js';
import * as live from './live.js';
import {askToken, onToken, takeFragmentToken, token} from './api.js';
import {h, replace} from './dom.js';
import * as overview from './pages/overview.js';
import * as streams from './pages/streams.js';
import * as runtime from './pages/runtime.js';
import * as analytics from './pages/analytics.js';
import * as apps from './pages/apps.js';
import * as saga from './pages/saga.js';

const pages = {overview, streams, runtime, analytics, saga, apps};
const main = document.getElementById('main');
let unmount = null;
let current = null;

function route() {
  const m = /^#\/([a-z]*)/.exec(location.hash);
  const name = m && m[1] && pages[m[1]] ? m[1] : 'overview';
  if (unmount) {
    try {
      unmount();
    } catch (e) {
      console.error('leaving page failed:', e);
    }
  }
  unmount = null;
  current = name;
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('active', a.dataset.page === name);
  document.title = 'flow · ' + name;
  const root = h('section', {class: 'page', id: 'page-' + name});
  replace(main, root);
  unmount = pages[name].mount(root) || null;
}

function showConn(st, everOpen) {
  const conn = document.getElementById('conn');
  const banner = document.getElementById('banner');
  conn.dataset.state = st;
  conn.textContent = st === 'open' ? 'live' : st;
  if (st === 'open') {
    banner.hidden = true;
    banner.textContent = '';
  } else if (st === 'refused') {
    banner.hidden = false;
    replace(banner,
            token() ? 'flowd refused the live updates (wrong access token?); retrying… '
                    : 'flowd needs an access token. ',
            h('button', {type: 'button', id: 'token-button', text: 'Enter token',
                         onclick: () => askToken()}));
  } else if (st === 'reconnecting' || st === 'down') {
    banner.hidden = false;
    banner.textContent = everOpen
        ? 'Lost the connection to flowd; reconnecting…'
        : 'Cannot reach flowd; retrying…';
  }
}

/* A #token=TOKEN pasted into an open tab logs in as on a fresh load. */
window.addEventListener('hashchange', () => {
  if (takeFragmentToken()) events.connect();
  route();
});
events.onState(showConn);
/* After a restart of flowd or a new token, reload the page's data. */
live.subscribe((kind) => {
  if (kind === 'reconnected') route();
});
onToken(() => {
  events.connect();
  route();
});
live.start();
route();
window.flowDashboard = {live, current: () => current};
