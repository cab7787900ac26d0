/*
 * Live state fed by /events: stream statuses, instance rates, counters and
 * field-value counters, plus the last five minutes of per-second history
 * that the charts draw. Kept for the life of the tab so a chart is full
 * when the user comes back to its page.
 */

import * as events from './events.js';

export const WINDOW_S = 300;

/* Per-second history of several named series over the last WINDOW_S s. */
export class History {
  constructor() {
    this.xs = [];
    this.series = new Map(); /* name → array aligned with xs */
    this.version = 0;        /* bumped when the set of names changes */
  }

  names() { return [...this.series.keys()]; }

  push(tsSeconds, values) {
    const x = Math.floor(tsSeconds);
    let i = this.xs.length - 1;
    if (i < 0 || this.xs[i] < x) {
      this.xs.push(x);
      for (const arr of this.series.values()) arr.push(null);
      i++;
    } else if (this.xs[i] !== x) {
      return; /* Out of order: ignore. */
    }
    for (const [name, v] of Object.entries(values)) {
      if (!this.series.has(name)) {
        this.series.set(name, new Array(this.xs.length).fill(null));
        this.version++;
      }
      this.series.get(name)[i] = v;
    }
    let drop = 0;
    while (drop < this.xs.length && this.xs[drop] <= x - WINDOW_S) drop++;
    if (drop) {
      this.xs.splice(0, drop);
      for (const arr of this.series.values()) arr.splice(0, drop);
    }
    /* Forget series with no value left in the window. */
    for (const [name, arr] of this.series) {
      if (arr.every((v) => v === null)) {
        this.series.delete(name);
        this.version++;
      }
    }
  }
}

/*
 * Puts older points (seconds before the first one held) in front, e.g.
 * the per-second history read from REST when the tab opens. points maps a
 * series name to a Map of second → value.
 */
History.prototype.prepend = function(points) {
  const first = this.xs.length ? this.xs[0] : Infinity;
  const now = Math.floor(Date.now() / 1000);
  const secs = new Set();
  for (const m of Object.values(points))
    for (const x of m.keys())
      if (x < first && x > now - WINDOW_S) secs.add(x);
  const xs = [...secs].sort((a, b) => a - b);
  if (!xs.length) return;
  for (const name of Object.keys(points)) {
    if (!this.series.has(name)) {
      this.series.set(name, new Array(this.xs.length).fill(null));
      this.version++;
    }
  }
  for (const [name, arr] of this.series) {
    const m = points[name];
    arr.unshift(...xs.map((x) => (m && m.has(x) ? m.get(x) : null)));
  }
  this.xs.unshift(...xs);
};

export const state = {
  streams: new Map(),   /* name → {name, status, statusDescription} */
  instances: new Map(), /* id → instance from the latest `rates` */
  counters: new Map(),  /* name → {name, kind, value, rate} */
  fvcs: new Map(),      /* name → {name, values} */
  order: new Map(),     /* stream → label of its first app */
  streamRates: new History(),
  counterRates: new History(),
  counterValues: new History(),
  lastRatesTs: 0,
  lastCountersTs: 0,
};

const subs = new Set();
let queued = false;

/* subscribe(fn): fn(kind) after each update, kind 'status'|'rates'|'counters'. */
export function subscribe(fn) {
  subs.add(fn);
  return () => subs.delete(fn);
}

function notify(kind) {
  for (const fn of subs) {
    try {
      fn(kind);
    } catch (e) {
      console.error('live update failed:', e);
    }
  }
}

/* The stream's event rate: what its first app emits, else the busiest app. */
export function streamRate(name) {
  const perLabel = new Map();
  for (const inst of state.instances.values()) {
    if (inst.stream !== name) continue;
    const r = perLabel.get(inst.label) || {in: 0, out: 0};
    r.in += Number(inst.rateIn) || 0;
    r.out += Number(inst.rateOut) || 0;
    perLabel.set(inst.label, r);
  }
  const first = state.order.get(name);
  if (first && perLabel.has(first)) return perLabel.get(first).out;
  let best = 0;
  for (const r of perLabel.values()) best = Math.max(best, r.in, r.out);
  return best;
}

/* Records which app comes first in each stream (from definitions). */
export function learnDefinitions(defs) {
  for (const d of defs) {
    if (d && Array.isArray(d.apps) && d.apps.length && !d.source)
      state.order.set(d.name, d.apps[0].label);
    if (d && d.status && !state.streams.has(d.name))
      state.streams.set(d.name, {name: d.name, status: d.status,
                                 statusDescription: d.statusDescription});
  }
}

/*
 * Fills the counter charts with the last five minutes that flowd keeps
 * (aggregate-counter history at second resolution), once per tab.
 */
let backfilled = false;
export async function backfill() {
  if (backfilled) return;
  backfilled = true;
  const {all, get, enc} = await import('./api.js');
  let counters;
  try {
    counters = await all('/metrics/counters?size=1000');
  } catch (e) {
    backfilled = false;
    return;
  }
  const from = Math.floor(Date.now() / 1000) - WINDOW_S;
  const rates = {};
  const values = {};
  await Promise.all(counters.map(async (c) => {
    try {
      const r = await get(`/metrics/aggregate-counters/${enc(c.name)}` +
                          `?resolution=second&from=${from}`);
      const per = Object.entries(r.values || {})
                      .map(([k, v]) => [Math.floor(Date.parse(k) / 1000), Number(v) || 0])
                      .filter(([x]) => !Number.isNaN(x))
                      .sort((a, b) => a[0] - b[0]);
      /* Walk back from the total to get the value at each second's end. */
      let total = Number(r.total !== undefined ? r.total : c.value) || 0;
      const vm = new Map();
      for (let i = per.length - 1; i >= 0; i--) {
        vm.set(per[i][0], Math.max(0, total));
        total -= per[i][1];
      }
      rates[c.name] = new Map(per);
      values[c.name] = vm;
    } catch (e) {
      /* No history for this one: its chart starts now. */
    }
  }));
  state.counterRates.prepend(rates);
  state.counterValues.prepend(values);
  notify('counters');
}

export function start() {
  events.on('stream-status', (d) => {
    if (!d || typeof d.name !== 'string') return;
    if (d.status === 'destroyed' || d.deleted) state.streams.delete(d.name);
    else state.streams.set(d.name, d);
    notify('status');
  });
  events.on('rates', (d) => {
    if (!d || !Array.isArray(d.instances)) return;
    state.instances = new Map(d.instances.map((i) => [i.id, i]));
    const ts = (Number(d.ts) || Date.now()) / 1000;
    state.lastRatesTs = ts;
    const vals = {};
    const streams = new Set(d.instances.map((i) => i.stream));
    for (const name of streams) vals[name] = streamRate(name);
    state.streamRates.push(ts, vals);
    notify('rates');
  });
  events.on('counters', (d) => {
    if (!d) return;
    const ts = (Number(d.ts) || Date.now()) / 1000;
    state.lastCountersTs = ts;
    const rates = {};
    const values = {};
    state.counters = new Map();
    state.fvcs = new Map();
    for (const c of d.counters || []) {
      state.counters.set(c.name, c);
      rates[c.name] = Number(c.rate) || 0;
      values[c.name] = Number(c.value) || 0;
    }
    for (const f of d.fieldValueCounters || []) state.fvcs.set(f.name, f);
    state.counterRates.push(ts, rates);
    state.counterValues.push(ts, values);
    notify('counters');
  });
  events.on('reconnected', () => notify('reconnected'));
  events.connect();
}
