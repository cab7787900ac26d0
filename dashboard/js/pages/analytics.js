/*
 * Analytics: live charts of counter rates and values (last 5 minutes, one
 * point a second, from the `counters` events), field-value counters as
 * bars or a pie, and aggregate counters with a resolution picker and a
 * time window. Hovering a chart shows exact values.
 */

import {all, get, enc} from '../api.js';
import {h, replace, fmtNum, fmtRate, empty} from '../dom.js';
import {LiveChart, barChart, fieldBars, fieldPie} from '../charts.js';
import * as live from '../live.js';

function isoOrEmpty(v) {
  if (!v) return '';
  const d = new Date(v); /* datetime-local is local time */
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace(/\.\d+Z$/, 'Z');
}

function fvcSection(root) {
  const box = h('div', {id: 'fvc-list'});
  const modes = new Map(); /* name → 'bars' | 'pie' */
  const panels = new Map();
  root.append(h('div', {class: 'panel'}, h('h2', {text: 'Field-value counters'}), box));

  function update() {
    const fvcs = [...live.state.fvcs.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (!fvcs.length) {
      replace(box, empty('No field-value counter yet.'));
      panels.clear();
      return;
    }
    if (fvcs.some((f) => !panels.has(f.name)) || panels.size !== fvcs.length) {
      panels.clear();
      replace(box);
      for (const f of fvcs) {
        const chart = h('div', {class: 'fvc-chart'});
        const total = h('span', {class: 'hint'});
        const mode = modes.get(f.name) || 'bars';
        const sel = h('select', {'aria-label': 'chart type',
                                 onchange: () => {
                                   modes.set(f.name, sel.value);
                                   draw(f.name);
                                 }},
                      h('option', {value: 'bars', text: 'bars'}),
                      h('option', {value: 'pie', text: 'pie'}));
        sel.value = mode;
        panels.set(f.name, {chart, total});
        box.append(h('div', {class: 'fvc', dataset: {name: f.name}},
                      h('div', {class: 'row'}, h('h3', {text: f.name}), total, sel),
                      chart));
      }
    }
    for (const f of fvcs) draw(f.name);
  }

  function draw(name) {
    const f = live.state.fvcs.get(name);
    const p = panels.get(name);
    if (!f || !p) return;
    const values = {};
    for (const [k, v] of Object.entries(f.values || {})) values[k] = Number(v) || 0;
    const sum = Object.values(values).reduce((a, b) => a + b, 0);
    p.total.textContent = `${fmtNum(sum)} events, ${Object.keys(values).length} values`;
    replace(p.chart, (modes.get(name) || 'bars') === 'pie' ? fieldPie(values)
                                                             : fieldBars(values));
  }
  return update;
}

function aggregateSection(root) {
  const nameSel = h('select', {id: 'agg-name', 'aria-label': 'counter'});
  const resSel = h('select', {id: 'agg-resolution', 'aria-label': 'resolution'},
                   ['minute', 'hour', 'day', 'month', 'year', 'second'].map(
                       (r) => h('option', {value: r, text: r})));
  const from = h('input', {type: 'datetime-local', id: 'agg-from', step: 1});
  const to = h('input', {type: 'datetime-local', id: 'agg-to', step: 1});
  const show = h('button', {type: 'button', class: 'primary', text: 'Show'});
  const chart = h('div', {class: 'agg-chart', id: 'agg-chart'});
  const info = h('p', {class: 'hint', id: 'agg-info'});
  root.append(h('div', {class: 'panel'},
                h('h2', {text: 'Aggregate counters'}),
                h('div', {class: 'row controls'},
                  h('label', {}, 'Counter ', nameSel),
                  h('label', {}, 'Resolution ', resSel),
                  h('label', {}, 'From ', from),
                  h('label', {}, 'To ', to), show),
                info, chart));
  let plot = null;

  async function names() {
    const seen = new Set();
    for (const path of ['/metrics/aggregate-counters?size=1000',
                        '/metrics/counters?size=1000']) {
      try {
        for (const c of await all(path)) seen.add(c.name);
      } catch (e) {
        /* A missing list leaves the other one. */
      }
    }
    const keep = nameSel.value;
    replace(nameSel, [...seen].sort().map((n) => h('option', {value: n, text: n})));
    if (keep && seen.has(keep)) nameSel.value = keep;
    if (!seen.size) info.textContent = 'No counter yet.';
  }

  async function load() {
    const name = nameSel.value;
    if (!name) return;
    const q = new URLSearchParams({resolution: resSel.value});
    const f = isoOrEmpty(from.value);
    const t = isoOrEmpty(to.value);
    if (f) q.set('from', f);
    if (t) q.set('to', t);
    try {
      const res = await get(`/metrics/aggregate-counters/${enc(name)}?${q}`);
      const values = res.values || {};
      const sum = Object.values(values).reduce((a, b) => a + (Number(b) || 0), 0);
      info.textContent = `${res.from || ''} – ${res.to || ''}: ${fmtNum(sum)} in the window` +
                         (res.total !== undefined ? `, ${fmtNum(res.total)} in total` : '');
      if (plot) plot.destroy();
      replace(chart);
      plot = barChart(chart, `${name} per ${res.resolution || resSel.value}`, values);
    } catch (e) {
      info.textContent = 'Could not load ' + name + ': ' + e.message;
    }
  }

  show.addEventListener('click', load);
  resSel.addEventListener('change', load);
  nameSel.addEventListener('change', load);
  names().then(load);
  /* A window that ends now moves with time. */
  const timer = setInterval(() => {
    if (!to.value && document.visibilityState === 'visible') load();
  }, 10000);
  return () => {
    clearInterval(timer);
    if (plot) plot.destroy();
  };
}

export function mount(root) {
  root.append(h('h1', {text: 'Analytics'}));
  const charts = h('div', {class: 'panel'}, h('h2', {text: 'Counters and event rates, last 5 minutes'}));
  const table = h('div', {id: 'counter-table'});
  root.append(charts, h('div', {class: 'panel'}, h('h2', {text: 'Counters'}), table));
  const rateChart = new LiveChart(charts, live.state.counterRates,
                                  {title: 'counter rate (events/s)'});
  rateChart.el.id = 'counter-rate-chart';
  const valueChart = new LiveChart(charts, live.state.counterValues,
                                   {title: 'counter value'});
  valueChart.el.id = 'counter-value-chart';
  const streamChart = new LiveChart(charts, live.state.streamRates,
                                    {title: 'event rate per stream (events/s)'});
  streamChart.el.id = 'stream-rate-chart';
  const updateFvc = fvcSection(root);
  const stopAgg = aggregateSection(root);

  const cells = new Map();
  function updateTable() {
    const cs = [...live.state.counters.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (!cs.length) {
      replace(table, empty('No counter yet: deploy a stream with a counter sink.'));
      cells.clear();
      return;
    }
    if (cs.length !== cells.size || cs.some((c) => !cells.has(c.name))) {
      cells.clear();
      const body = h('tbody');
      for (const c of cs) {
        const v = h('td', {class: 'num counter-value'});
        const l = h('td', {class: 'num counter-live'});
        const r = h('td', {class: 'num'});
        cells.set(c.name, {v, l, r});
        body.append(h('tr', {dataset: {counter: c.name}}, h('td', {text: c.name}),
                      h('td', {text: c.kind || 'counter'}), v, l, r));
      }
      /* A counter a guaranteed stream feeds shows what checkpoints
       * committed as its value, and the uncommitted figure as "live". */
      replace(table, h('table', {class: 'grid'},
                       h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Value (committed)',
                                                   'Live (uncommitted)', 'Rate'].map(
                                                  (t) => h('th', {text: t})))),
                       body));
    }
    for (const c of cs) {
      const x = cells.get(c.name);
      x.v.textContent = fmtNum(c.value);
      x.v.dataset.value = String(c.value);
      x.l.textContent = c.live === undefined ? '' : fmtNum(c.live);
      x.l.dataset.live = c.live === undefined ? '' : String(c.live);
      x.r.textContent = fmtRate(c.rate);
    }
  }

  /* Before the first `counters` event, show what REST knows. */
  if (!live.state.counters.size) {
    all('/metrics/counters?size=1000').then((cs) => {
      if (live.state.counters.size) return;
      for (const c of cs) live.state.counters.set(c.name, c);
      updateTable();
    }).catch(() => {});
  }
  updateTable();
  updateFvc();
  live.backfill();
  const unsub = live.subscribe((kind) => {
    if (kind === 'rates') streamChart.refresh();
    if (kind !== 'counters') return;
    rateChart.refresh();
    valueChart.refresh();
    updateTable();
    updateFvc();
  });
  return () => {
    unsub();
    rateChart.destroy();
    valueChart.destroy();
    streamChart.destroy();
    stopAgg();
  };
}
