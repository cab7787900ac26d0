/*
 * The live connection to flowd's /events stream (server-sent events).
 * It reconnects by itself with exponential backoff (0.5 s doubling to
 * 10 s) when flowd stops or restarts, and reports its state so the page
 * can show a banner. Subscribers register per event name.
 */

import {token} from './api.js';

const handlers = new Map(); /* event name → Set of fns */
const stateFns = new Set();
let es = null;
let delay = 500;
let timer = null;
let state = 'connecting';
let everOpen = false;

function setState(s) {
  state = s;
  for (const fn of stateFns) fn(s, everOpen);
}

function dispatch(name, ev) {
  let data = ev.data;
  try {
    data = JSON.parse(ev.data);
  } catch (e) {
    /* Non-JSON data is passed through as a string. */
  }
  for (const fn of handlers.get(name) || []) {
    try {
      fn(data, name);
    } catch (e) {
      console.error('event handler for', name, 'failed:', e);
    }
  }
}

function listen(name) {
  if (!es) return;
  es.addEventListener(name, (ev) => dispatch(name, ev));
}

export function connect() {
  clearTimeout(timer);
  timer = null;
  if (es) es.close();
  const t = token();
  const url = '/events' + (t ? '?access_token=' + encodeURIComponent(t) : '');
  es = new EventSource(url);
  setState(everOpen ? 'reconnecting' : 'connecting');
  es.onopen = () => {
    delay = 500;
    const first = !everOpen;
    everOpen = true;
    setState('open');
    if (!first) dispatch('reconnected', {data: 'null'});
  };
  let opened = false;
  const mine = es;
  es.addEventListener('open', () => {
    opened = true;
  });
  es.onerror = async () => {
    /*
     * The browser retries on its own only for some failures; close and
     * retry ourselves so a restarted flowd is always picked up. A stream
     * that never opened while flowd is up was refused: most likely it
     * needs the access token, which the REST side asks for.
     */
    if (es !== mine) return;
    es.close();
    es = null;
    let up = false;
    if (!opened) {
      try {
        up = (await fetch('/health', {cache: 'no-store'})).ok;
      } catch (e) {
        up = false;
      }
    }
    if (es || timer) return; /* connect() was called meanwhile */
    setState(up ? 'refused' : everOpen ? 'reconnecting' : 'down');
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10000);
  };
  for (const name of handlers.keys()) listen(name);
}

/* on('status', fn) calls fn(data, name) for each event of that name. */
export function on(name, fn) {
  if (!handlers.has(name)) {
    handlers.set(name, new Set());
    if (name !== 'reconnected') listen(name);
  }
  handlers.get(name).add(fn);
  return () => handlers.get(name).delete(fn);
}

export function onState(fn) {
  stateFns.add(fn);
  fn(state, everOpen);
  return () => stateFns.delete(fn);
}

export function connState() { return state; }
