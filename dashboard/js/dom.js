/*
 * Small DOM helpers. Every piece of data reaches the page through
 * textContent or setAttribute on elements built here, never through
 * innerHTML, so a stream name such as "<img src=x onerror=...>" is shown as
 * text and never parsed as markup.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function')
      el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/* Appends children: nodes, strings (as text nodes), arrays, skipping null. */
export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/* h('div', {class: 'x'}, child, ...) builds an HTML element. */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/* s('rect', {...}) builds an SVG element. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/* Replaces every child of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const formats = new Map(); /* digits → Intl.NumberFormat, built once */

export function fmtNum(n, digits = 0) {
  if (n === undefined || n === null || Number.isNaN(Number(n))) return '–';
  let f = formats.get(digits);
  if (!f) {
    f = new Intl.NumberFormat('en-US', {maximumFractionDigits: digits,
                                        minimumFractionDigits: 0});
    formats.set(digits, f);
  }
  return f.format(Number(n));
}

export function fmtRate(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M/s';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + ' k/s';
  return fmtNum(n, n < 10 ? 1 : 0) + ' /s';
}

/* A status badge: colour from the class, the status word as text. */
export function statusBadge(status, description) {
  const st = String(status || 'unknown').toLowerCase();
  const known = ['undeployed', 'deploying', 'deployed', 'partial', 'failed',
                 'degraded', 'stale', 'running', 'starting', 'stopping',
                 'stopped', 'crashed', 'restarting', 'undeploying',
                 'completed', 'unknown'];
  return h('span', {
    class: 'status st-' + (known.includes(st) ? st : 'unknown'),
    title: description || null,
    dataset: {status: st},
    text: st,
  });
}

export function table(headers, rows, opts = {}) {
  return h('table', {class: 'grid ' + (opts.class || '')},
           h('thead', {}, h('tr', {}, headers.map((t) => h('th', {text: t})))),
           h('tbody', {}, rows));
}

export function empty(text) { return h('p', {class: 'empty', text}); }
