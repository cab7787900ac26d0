/*
 * Runtime: every app instance with its pid, state (`stale` when it stopped
 * reporting metrics), events per second in and out, errors, restarts, and
 * its last exit and last error. The table is read from /runtime/apps and
 * then kept live from the `rates` events (every second); the REST list is
 * read again when instances appear or go, for pids and restart counts.
 */

import {all} from '../api.js';
import {h, replace, statusBadge, fmtNum, fmtRate, empty} from '../dom.js';
import * as live from '../live.js';

const COLS = ['Instance', 'Stream', 'App', 'PID', 'State', 'In /s', 'Out /s',
              'In', 'Out', 'Errors', 'Restarts', 'Last exit', 'Last error'];

export function mount(root) {
  const err = h('p', {class: 'error', hidden: true});
  const body = h('tbody');
  const tableEl = h('table', {class: 'grid', id: 'runtime-table'},
                    h('thead', {}, h('tr', {}, COLS.map((t) => h('th', {text: t})))),
                    body);
  const note = h('div', {id: 'runtime-empty'});
  const summary = h('p', {class: 'summary', id: 'runtime-summary'});
  root.append(h('h1', {text: 'Runtime'}),
              h('div', {class: 'panel'}, summary, err, note, tableEl));

  let rest = new Map(); /* id → instance from /runtime/apps */
  const rows = new Map(); /* id → {tr, cells} */

  function merged() {
    const out = new Map(rest);
    for (const [id, i] of live.state.instances) out.set(id, {...(rest.get(id) || {}), ...i});
    return [...out.values()].sort((a, b) => String(a.id).localeCompare(String(b.id)));
  }

  function render() {
    const list = merged();
    replace(note, list.length ? null : empty('No app instance is running.'));
    tableEl.hidden = !list.length;
    const seen = new Set();
    let total = 0;
    for (const i of list) {
      seen.add(i.id);
      let r = rows.get(i.id);
      if (!r) {
        const cells = COLS.map(() => h('td'));
        r = {tr: h('tr', {dataset: {id: i.id}}, cells), cells};
        for (const k of [3, 5, 6, 7, 8, 9, 10]) cells[k].className = 'num';
        rows.set(i.id, r);
      }
      /* Keep the sorted order, moving a row only when it is out of place. */
      if (body.children[seen.size - 1] !== r.tr)
        body.insertBefore(r.tr, body.children[seen.size - 1] || null);
      const c = r.cells;
      const text = [
        i.id, i.stream || '',
        i.label && i.name && i.label !== i.name ? `${i.label} (${i.name})`
                                                : (i.label || i.name || ''),
        i.pid === null || i.pid === undefined ? '–' : String(i.pid), null,
        fmtRate(i.rateIn), fmtRate(i.rateOut), fmtNum(i.in), fmtNum(i.out),
        fmtNum(i.errors), fmtNum(i.restarts), i.lastExit || '',
        i.lastError || ''];
      text.forEach((v, k) => {
        if (v !== null && c[k].textContent !== v) c[k].textContent = v;
      });
      if (c[4].dataset.state !== String(i.state)) {
        c[4].dataset.state = String(i.state);
        replace(c[4], statusBadge(i.state));
      }
      c[9].classList.toggle('bad', Number(i.errors) > 0);
      c[12].classList.add('desc');
      total += Number(i.rateOut) || 0;
    }
    for (const [id, r] of rows) {
      if (!seen.has(id)) {
        r.tr.remove();
        rows.delete(id);
      }
    }
    summary.textContent = `${list.length} instance${list.length === 1 ? '' : 's'}` +
                          ` in ${new Set(list.map((i) => i.stream)).size} stream(s)`;
  }

  let loading = false;
  async function load() {
    if (loading) return;
    loading = true;
    try {
      const apps = await all('/runtime/apps?size=1000');
      const m = new Map();
      for (const a of apps)
        for (const i of a.instances || []) m.set(i.id, {name: a.name, ...i});
      rest = m;
      err.hidden = true;
    } catch (e) {
      err.hidden = false;
      err.textContent = 'Could not load the runtime: ' + e.message;
    } finally {
      loading = false;
    }
    render();
  }

  let ticks = 0;
  const unsub = live.subscribe((kind) => {
    if (kind !== 'rates' && kind !== 'status') return;
    const ids = [...live.state.instances.keys()];
    const changed = ids.length !== rest.size || ids.some((id) => !rest.has(id)) ||
                    ids.some((id) => rest.get(id).state !== live.state.instances.get(id).state);
    /* Pids and restart counts come from REST: re-read on change, else every 5 s. */
    if (changed || kind === 'status' || ++ticks % 5 === 0) load();
    else render();
  });
  load();
  return unsub;
}
