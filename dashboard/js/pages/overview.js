/*
 * Overview: every stream with its status, and the live event-rate chart of
 * what is deployed.
 */

import {all} from '../api.js';
import {h, replace, statusBadge, fmtRate, empty} from '../dom.js';
import {LiveChart} from '../charts.js';
import * as live from '../live.js';

export function mount(root) {
  const list = h('div', {class: 'stream-summary'}, empty('Loading streams…'));
  const chartBox = h('div', {class: 'panel'});
  const err = h('p', {class: 'error', hidden: true});
  root.append(
      h('h1', {text: 'Overview'}),
      h('div', {class: 'panel'}, h('h2', {text: 'Event rate of deployed streams'}),
        chartBox),
      h('div', {class: 'panel'}, h('h2', {text: 'Streams'}), err, list));
  const chart = new LiveChart(chartBox, live.state.streamRates,
                              {title: 'events/s (last 5 minutes)', unit: ''});
  chart.el.id = 'rate-chart';

  let defs = [];
  const rows = new Map();

  function render() {
    const names = new Set(defs.map((d) => d.name));
    for (const n of live.state.streams.keys()) names.add(n);
    if (!names.size) {
      replace(list, empty('No streams yet. Create one on the Streams page.'));
      rows.clear();
      return;
    }
    const body = h('tbody');
    rows.clear();
    for (const name of [...names].sort()) {
      const st = live.state.streams.get(name) ||
                 defs.find((d) => d.name === name) || {};
      const rate = h('td', {class: 'num'});
      const status = h('td', {}, statusBadge(st.status, st.statusDescription));
      const desc = h('td', {class: 'desc', text: st.statusDescription || ''});
      const tr = h('tr', {dataset: {stream: name}},
                   h('td', {}, h('a', {href: '#/streams', text: name})),
                   status, desc, rate);
      rows.set(name, {status, desc, rate});
      body.append(tr);
    }
    replace(list, h('table', {class: 'grid', id: 'overview-streams'},
                    h('thead', {}, h('tr', {}, ['Stream', 'Status', 'Description',
                                                'Events/s'].map((t) => h('th', {text: t})))),
                    body));
    updateRates();
  }

  function updateRates() {
    for (const [name, r] of rows) {
      const st = live.state.streams.get(name);
      r.rate.textContent =
          st && st.status !== 'undeployed' ? fmtRate(live.streamRate(name)) : '–';
    }
  }

  function updateStatuses() {
    for (const [name, r] of rows) {
      const st = live.state.streams.get(name);
      if (!st) continue;
      replace(r.status, statusBadge(st.status, st.statusDescription));
      r.desc.textContent = st.statusDescription || '';
    }
  }

  async function load() {
    try {
      defs = await all('/streams/definitions?size=1000');
      live.learnDefinitions(defs);
      err.hidden = true;
    } catch (e) {
      err.hidden = false;
      err.textContent = 'Could not load the streams: ' + e.message;
    }
    render();
  }

  const unsub = live.subscribe((kind) => {
    if (kind === 'rates') {
      chart.refresh();
      updateRates();
    } else if (kind === 'status') {
      const names = live.state.streams;
      const same = [...names.keys()].every((n) => rows.has(n)) &&
                   [...rows.keys()].every((n) => names.has(n));
      if (same) updateStatuses();
      else load();
    }
  });
  load();
  return () => {
    unsub();
    chart.destroy();
  };
}
