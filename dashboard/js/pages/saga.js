/*
 * Saga: the orders saga of streams/orders.flow at a glance. Its counters
 * (orders-started, orders-completed, orders-cancelled, and
 * orders-compensated: the cancellations that released a reservation) as
 * figures and as
 * live charts of their rates and values over the last five minutes, the
 * orders still in flight (started, neither completed nor cancelled), the
 * cancellations (compensated or not) by reason from the field-value
 * counter orders-cancelled-by-reason, and the same counters per
 * minute over the last hour from their stored history.
 */

import {get, enc} from '../api.js';
import {h, replace, fmtNum, fmtRate, empty} from '../dom.js';
import {LiveChart, barChart, fieldBars} from '../charts.js';
import * as live from '../live.js';

export const SAGA_COUNTERS = ['orders-started', 'orders-completed', 'orders-cancelled',
                              'orders-compensated'];
export const SAGA_REASONS = 'orders-cancelled-by-reason';

const isSaga = (name) => SAGA_COUNTERS.includes(name);

function figure(id, label) {
  const value = h('div', {class: 'num figure-value', id: id + '-value', text: '–'});
  const rate = h('div', {class: 'hint', id: id + '-rate'});
  const box = h('div', {class: 'figure', id, dataset: {counter: id}},
                h('div', {class: 'figure-label', text: label}), value, rate);
  return {box, value, rate};
}

function setFigure(f, v, rate) {
  f.value.textContent = v === undefined ? '–' : fmtNum(v);
  f.value.dataset.value = v === undefined ? '' : String(v);
  f.rate.textContent = rate === undefined ? '' : fmtRate(rate);
}

/* The counters per minute over the last hour, one bar chart each. */
function historySection(root) {
  const box = h('div', {class: 'saga-history', id: 'saga-history'});
  root.append(h('div', {class: 'panel'},
                h('h2', {text: 'Per minute, last hour'}), box));
  const plots = [];

  async function load() {
    for (const p of plots.splice(0)) p.destroy();
    replace(box);
    for (const name of SAGA_COUNTERS) {
      const slot = h('div', {class: 'saga-history-chart', dataset: {counter: name}});
      box.append(slot);
      try {
        const res = await get(`/metrics/aggregate-counters/${enc(name)}?resolution=minute`);
        plots.push(barChart(slot, `${name} per minute`, res.values || {}));
      } catch (e) {
        replace(slot, empty(`${name}: no history yet (${e.message}).`));
      }
    }
  }

  load();
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') load();
  }, 30000);
  return () => {
    clearInterval(timer);
    for (const p of plots.splice(0)) p.destroy();
  };
}

export function mount(root) {
  root.append(h('h1', {text: 'Orders saga'}),
              h('p', {class: 'hint',
                      text: 'Orders placed, completed and cancelled; compensated are the ' +
                            'cancellations whose payment failed after a reservation, ' +
                            'which the saga released. From the counters of ' +
                            'streams/orders.flow.'}));
  const figs = {
    started: figure('saga-started', 'started'),
    completed: figure('saga-completed', 'completed'),
    cancelled: figure('saga-cancelled', 'cancelled'),
    compensated: figure('saga-compensated', 'compensated'),
    inflight: figure('saga-inflight', 'in flight'),
  };
  const none = h('p', {class: 'hint', id: 'saga-none', hidden: true,
                       text: 'No saga counter yet: deploy the streams of streams/orders.flow.'});
  root.append(h('div', {class: 'panel'}, h('div', {class: 'row figures'},
                                           Object.values(figs).map((f) => f.box)), none));
  const charts = h('div', {class: 'panel'}, h('h2', {text: 'Last 5 minutes'}));
  root.append(charts);
  const rateChart = new LiveChart(charts, live.state.counterRates,
                                  {title: 'orders per second', filter: isSaga});
  rateChart.el.id = 'saga-rate-chart';
  const valueChart = new LiveChart(charts, live.state.counterValues,
                                   {title: 'orders', filter: isSaga});
  valueChart.el.id = 'saga-value-chart';
  const reasons = h('div', {id: 'saga-reasons'});
  root.append(h('div', {class: 'panel'}, h('h2', {text: 'Cancelled, by reason'}), reasons));
  const stopHistory = historySection(root);

  function update() {
    const c = (n) => live.state.counters.get(n);
    const [s, d, x, m] = SAGA_COUNTERS.map(c);
    setFigure(figs.started, s && s.value, s && s.rate);
    setFigure(figs.completed, d && d.value, d && d.rate);
    setFigure(figs.cancelled, x && x.value, x && x.rate);
    setFigure(figs.compensated, m && m.value, m && m.rate);
    setFigure(figs.inflight,
              s ? Math.max(0, s.value - (d ? d.value : 0) - (x ? x.value : 0)) : undefined);
    none.hidden = Boolean(s || d || x);
    const f = live.state.fvcs.get(SAGA_REASONS);
    const values = {};
    for (const [k, v] of Object.entries((f && f.values) || {})) values[k] = Number(v) || 0;
    if (Object.keys(values).length) replace(reasons, fieldBars(values));
    else replace(reasons, empty('No order cancelled yet.'));
    rateChart.refresh();
    valueChart.refresh();
  }

  /* Before the first `counters` event, show what REST knows. */
  Promise.all(SAGA_COUNTERS.map((n) => get(`/metrics/counters/${enc(n)}`).catch(() => null)))
      .then((cs) => {
        for (const c of cs)
          if (c && !live.state.counters.has(c.name)) live.state.counters.set(c.name, c);
        return get(`/metrics/field-value-counters/${enc(SAGA_REASONS)}`).catch(() => null);
      })
      .then((f) => {
        if (f && !live.state.fvcs.has(f.name)) live.state.fvcs.set(f.name, f);
        update();
      });
  update();
  live.backfill();
  const unsub = live.subscribe((kind) => {
    if (kind === 'counters') update();
  });
  return () => {
    unsub();
    rateChart.destroy();
    valueChart.destroy();
    stopHistory();
  };
}
