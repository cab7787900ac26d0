/*
 * A stream's graph: the DSL text split into its parts (source destination
 * or tap, apps with labels and options, sink destination) and drawn as SVG
 * boxes joined by arrows. The split here only serves the picture; flowd's
 * parser stays the judge of what is valid.
 */

import {s} from './dom.js';

/* Splits text on sep outside single or double quotes. */
function splitOutside(text, sep) {
  const out = [];
  let q = null;
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === q) q = null;
      cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      cur += c;
    } else if (text.startsWith(sep, i)) {
      out.push(cur);
      cur = '';
      i += sep.length - 1;
      while (sep === '|' && text[i + 1] === '|') i++;
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function parseApp(text) {
  const toks = splitOutside(text.trim(), ' ').filter((t) => t !== '');
  let label = null;
  if (toks.length && /^[\w$-]+:$/.test(toks[0])) {
    label = toks.shift().slice(0, -1);
  } else if (toks.length && /^[\w$-]+:[\w$-]+/.test(toks[0]) &&
             !toks[0].startsWith('--')) {
    const i = toks[0].indexOf(':');
    label = toks[0].slice(0, i);
    toks[0] = toks[0].slice(i + 1);
  }
  const name = toks.shift() || '?';
  return {kind: 'app', name, label: label || name,
          options: toks.filter((t) => t.startsWith('--'))};
}

function parseDest(text) {
  const t = text.trim().split(/\s+/)[0].replace(/^:/, '');
  return {kind: t.includes('.') ? 'tap' : 'dest', name: t, label: t};
}

/*
 * parse(dsl) → {name, nodes: [{kind, name, label, options}]} where nodes
 * are in flow order. Kinds: 'app', 'dest' (named destination), 'tap'.
 */
export function parse(dsl) {
  let text = String(dsl || '').trim();
  let name = null;
  const m = /^([A-Za-z_][\w-]*)\s*=(?!=)\s*/.exec(text);
  if (m && !text.startsWith(m[1] + ' --')) {
    name = m[1];
    text = text.slice(m[0].length);
  }
  const segs = splitOutside(text, '|');
  const nodes = [];
  segs.forEach((seg, i) => {
    const parts = splitOutside(seg, '>');
    let srcDest = false;
    if (i === 0 && parts[0].trim().startsWith(':') && parts.length > 1) {
      nodes.push(parseDest(parts.shift()));
      srcDest = true;
    }
    let sink = null;
    if (i === segs.length - 1 && (parts.length > 1 || srcDest) &&
        parts[parts.length - 1].trim().startsWith(':')) {
      sink = parseDest(parts.pop());
    }
    const appText = parts.join('>').trim();
    if (appText) nodes.push(parseApp(appText));
    if (sink) nodes.push(sink);
  });
  /* ":a > :b" alone: SCDF puts an implicit bridge app between them. */
  if (nodes.length === 2 && nodes.every((n) => n.kind !== 'app'))
    nodes.splice(1, 0, {kind: 'app', name: 'bridge', label: 'bridge',
                        options: []});
  return {name, nodes};
}

const MIN_W = 130;
const MAX_W = 280;
const BOX_H = 58;
const GAP = 46;
const PAD = 10;

function clip(text, max) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

/* What a node shows: the small kind line, the bold name, the sub line. */
function texts(n, roles) {
  if (n.kind !== 'app')
    return {top: n.kind === 'tap' ? 'tap' : 'destination', main: ':' + n.name, sub: ''};
  const top = roles[n.name] || 'app';
  if (n.label !== n.name) return {top, main: n.label, sub: n.name};
  return {top, main: n.label, sub: n.options.join(' ')};
}

/* A box wide enough for its name (about 8 px a character), within bounds. */
function widthFor(t) {
  return Math.max(MIN_W, Math.min(MAX_W, t.main.length * 8 + 24));
}

/*
 * draw(dsl, {roles, states}) → an <svg> with one box per node. roles maps
 * an app name to source/processor/sink; states maps a label to a status
 * word used for the box colour.
 */
export function draw(dsl, opts = {}) {
  const {nodes} = parse(dsl);
  const roles = opts.roles || {};
  const states = opts.states || {};
  const all = nodes.map((n) => texts(n, roles));
  const widths = all.map(widthFor);
  const width = PAD * 2 + widths.reduce((a, w) => a + w, 0) +
                Math.max(0, nodes.length - 1) * GAP;
  const height = BOX_H + PAD * 2;
  const svg = s('svg', {
    class: 'graph',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': 'stream graph',
  });
  const defs = s('defs', {},
                 s('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9,
                              refY: 5, markerWidth: 7, markerHeight: 7,
                              orient: 'auto-start-reverse'},
                   s('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead'})));
  svg.append(defs);
  let x = PAD;
  nodes.forEach((n, i) => {
    const w = widths[i];
    const t = all[i];
    const y = PAD;
    if (i > 0) {
      svg.append(s('line', {class: 'edge', x1: x - GAP + 2, y1: y + BOX_H / 2,
                            x2: x - 3, y2: y + BOX_H / 2,
                            'marker-end': 'url(#arrow)'}));
    }
    const role = n.kind === 'app' ? (roles[n.name] || '') : '';
    const state = n.kind === 'app' ? (states[n.label] || '') : '';
    const g = s('g', {class: `node ${n.kind} ${role} ${state ? 'st-' + state : ''}`,
                      dataset: {kind: n.kind, name: n.name, label: n.label}});
    const full = n.kind === 'app'
                     ? [n.label !== n.name ? n.label + ': ' + n.name : n.name,
                        ...n.options].join(' ')
                     : (n.kind === 'tap' ? 'tap :' : ':') + n.name;
    g.append(s('title', {text: full}));
    g.append(s('rect', {x, y, width: w, height: BOX_H,
                        rx: n.kind === 'app' ? 6 : BOX_H / 2}));
    const cx = x + w / 2;
    g.append(s('text', {x: cx, y: y + 18, class: 'kind', text: t.top}));
    g.append(s('text', {x: cx, y: y + 36, class: 'name',
                        text: clip(t.main, Math.floor((w - 16) / 8))}));
    if (t.sub)
      g.append(s('text', {x: cx, y: y + 51, class: 'sub',
                          text: clip(t.sub, Math.floor((w - 12) / 6.2))}));
    svg.append(g);
    x += w + GAP;
  });
  return svg;
}
