/*
 * Charts: uPlot time series (live rates and counters, last 5 minutes at
 * one-second resolution), uPlot bars for aggregate counters, and small SVG
 * bar and pie charts for field-value counters. Every chart shows exact
 * values on hover: uPlot's legend follows the cursor, SVG shapes carry a
 * <title>.
 */

import uPlot from '/vendor/uplot/uPlot.esm.js';
import {h, s, fmtNum} from './dom.js';
import {WINDOW_S} from './live.js';

export const PALETTE = ['#2f7ed8', '#e4572e', '#29a35a', '#9b59b6', '#f0a30a',
                        '#17a2b8', '#d63384', '#6c757d', '#8d6e63', '#20c997'];

function widthOf(el) {
  return Math.max(240, Math.floor(el.getBoundingClientRect().width) || 600);
}

/*
 * The x range of a live chart: the last WINDOW_S seconds up to the newest
 * point, from the data itself (uPlot widens a single point to a day).
 */
function windowRange(u, min, max) {
  const xs = u.data && u.data[0];
  if (!xs || !xs.length) return [min, max];
  const hi = xs[xs.length - 1];
  return [Math.min(xs[0], hi - WINDOW_S), hi];
}

/*
 * A live chart of a History (see live.js): the last five minutes at one
 * point per second. refresh() redraws it; the page calls it after each
 * update. filter(name) picks the series to draw.
 */
export class LiveChart {
  constructor(container, history, {title = '', unit = '', height = 220,
                                   filter = () => true} = {}) {
    this.history = history;
    this.title = title;
    this.unit = unit;
    this.height = height;
    this.filter = filter;
    this.names = [];
    this.version = -1;
    this.plot = null;
    this.el = h('div', {class: 'chart live-chart', dataset: {title}});
    container.append(this.el);
    this.ro = new ResizeObserver(() => {
      if (this.plot)
        this.plot.setSize({width: widthOf(this.el), height: this.height});
    });
    this.ro.observe(this.el);
    this.refresh();
  }

  /* Number of points (seconds) currently drawn. */
  get points() { return this.history.xs.length; }

  data() {
    const hs = this.history;
    return [hs.xs.slice(), ...this.names.map((n) => hs.series.get(n).slice())];
  }

  refresh() {
    const names = this.history.names().filter(this.filter).sort();
    const same = names.length === this.names.length &&
                 names.every((n, i) => n === this.names[i]);
    if (!same || !this.plot) {
      this.names = names;
      this.build();
    } else {
      this.plot.setData(this.data());
    }
    /* Away from the cursor, the legend shows the newest values. */
    const n = this.history.xs.length;
    if (n && this.plot && !(this.plot.cursor.left >= 0)) this.plot.setLegend({idx: n - 1});
    this.el.dataset.points = String(this.points);
    this.el.dataset.series = String(this.names.length);
  }

  build() {
    if (this.plot) this.plot.destroy();
    const unit = this.unit;
    const opts = {
      title: this.title,
      width: widthOf(this.el),
      height: this.height,
      cursor: {drag: {x: false, y: false}},
      /* Always the whole window, ending at the newest point. */
      scales: {x: {time: true, range: (u, min, max) => windowRange(u, min, max)},
               /* Rates and counts start at zero. */
               y: {range: (u, min, max) => [Math.min(0, min || 0),
                                            max > 0 ? max * 1.1 : 1]}},
      legend: {live: true},
      axes: [{}, {size: 70,
                  values: (u, vals) => vals.map((v) => fmtNum(v) + unit)}],
      series: [
        {label: 'time'},
        ...this.names.map((n, i) => ({
          label: n,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          value: (u, v) =>
              (v === null || v === undefined ? '–' : fmtNum(v, 1) + unit),
        })),
      ],
    };
    this.plot = new uPlot(opts, this.data(), this.el);
  }

  destroy() {
    this.ro.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

/* A uPlot bar chart for aggregate counters: buckets (ISO times) → counts. */
export function barChart(container, title, buckets) {
  const entries = Object.entries(buckets)
                      .map(([k, v]) => [Date.parse(k) / 1000, Number(v)])
                      .filter(([t]) => !Number.isNaN(t))
                      .sort((a, b) => a[0] - b[0]);
  const el = h('div', {class: 'chart bar-chart'});
  container.append(el);
  const opts = {
    title,
    width: widthOf(container),
    height: 220,
    scales: {x: {time: true}},
    axes: [{}, {size: 70, values: (u, vals) => vals.map((v) => fmtNum(v))}],
    series: [
      {label: 'bucket'},
      {
        label: 'events',
        stroke: PALETTE[0],
        fill: PALETTE[0] + '99',
        paths: uPlot.paths.bars({size: [0.8, 60]}),
        points: {show: false},
        value: (u, v) => (v === null || v === undefined ? '–' : fmtNum(v)),
      },
    ],
  };
  return new uPlot(opts, [entries.map((e) => e[0]), entries.map((e) => e[1])],
                   el);
}

/* Horizontal SVG bars: values maps a field value to its count. */
export function fieldBars(values) {
  const entries = Object.entries(values).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map((e) => e[1]));
  const rowH = 22;
  const labelW = 170;
  const barW = 320;
  const svg = s('svg', {class: 'fvc-bars', width: labelW + barW + 90,
                        height: entries.length * rowH + 4});
  entries.forEach(([k, v], i) => {
    const y = i * rowH + 2;
    const w = Math.max(1, (v / max) * barW);
    const g = s('g', {class: 'bar', dataset: {value: k}});
    g.append(s('title', {text: `${k}: ${fmtNum(v)}`}));
    g.append(s('text', {x: labelW - 6, y: y + 15, 'text-anchor': 'end',
                        text: k.length > 24 ? k.slice(0, 23) + '…' : k}));
    g.append(s('rect', {x: labelW, y, width: w, height: rowH - 5,
                        fill: PALETTE[i % PALETTE.length]}));
    g.append(s('text', {x: labelW + w + 6, y: y + 15, class: 'val',
                        text: fmtNum(v)}));
    svg.append(g);
  });
  return svg;
}

/* An SVG pie with a legend: values maps a field value to its count. */
export function fieldPie(values) {
  const entries = Object.entries(values).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((a, e) => a + e[1], 0);
  const r = 90;
  const cx = 100;
  const cy = 100;
  const svg = s('svg', {class: 'fvc-pie', width: 200, height: 200,
                        viewBox: '0 0 200 200'});
  let a0 = -Math.PI / 2;
  entries.forEach(([k, v], i) => {
    const frac = total ? v / total : 0;
    const title = s('title', {text: `${k}: ${fmtNum(v)} (${(frac * 100).toFixed(1)}%)`});
    const fill = PALETTE[i % PALETTE.length];
    let shape;
    if (frac >= 0.9999) {
      shape = s('circle', {cx, cy, r, fill}, title);
    } else {
      const a1 = a0 + frac * 2 * Math.PI;
      const large = a1 - a0 > Math.PI ? 1 : 0;
      const d = `M${cx},${cy} L${cx + r * Math.cos(a0)},${cy + r * Math.sin(a0)} ` +
                `A${r},${r} 0 ${large} 1 ${cx + r * Math.cos(a1)},${cy + r * Math.sin(a1)} z`;
      shape = s('path', {d, fill}, title);
      a0 = a1;
    }
    shape.dataset.value = k;
    svg.append(shape);
  });
  const legend = h('ul', {class: 'legend'},
                   entries.map(([k, v], i) =>
                       h('li', {}, h('span', {class: 'swatch',
                                              style: `background:${PALETTE[i % PALETTE.length]}`}),
                         h('span', {text: k}), ' ',
                         h('b', {text: fmtNum(v)}))));
  return h('div', {class: 'pie-wrap'}, svg, legend);
}
