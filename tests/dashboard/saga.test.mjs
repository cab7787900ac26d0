/*
 * The saga page shows the orders saga's counters: started, completed,
 * cancelled, compensated and the orders in flight (started less the two), live charts
 * of the three, the cancellations by reason as bars, and the per-minute
 * history. The counters are fed here by finite streams of known length,
 * so every figure the page shows is known exactly.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startFlowd, openBrowser, flowdPath, api, until} from './helpers.mjs';

test('saga page: exact figures, in-flight orders, reasons, charts',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd();
  t.after(() => fd.stop());
  const streams = [
    ['started', 'load-sim --rate=2000 --count=600 --seed=1 | counter --name=orders-started'],
    ['completed', 'load-sim --rate=2000 --count=300 --seed=2 | counter --name=orders-completed'],
    ['cancelled', 'load-sim --rate=2000 --count=200 --seed=3 | counter --name=orders-cancelled'],
    ['compensated', 'load-sim --rate=2000 --count=120 --seed=4 | counter --name=orders-compensated'],
    ['reasons', 'load-sim --rate=2000 --count=200 --seed=3 | ' +
                'field-value-counter --field-name=type --name=orders-cancelled-by-reason'],
  ];
  for (const [name, definition] of streams) {
    const r = await api(fd, 'POST', '/streams/definitions', {name, definition});
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const d = await api(fd, 'POST', '/streams/deployments/' + name, {});
    assert.equal(d.status, 202, JSON.stringify(d.body));
  }
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;
  await page.goto(fd.url + '/#/saga');
  await page.locator('#page-saga').waitFor();
  const fig = (id) => page.locator(`#${id}-value`).getAttribute('data-value');
  await until('the saga figures to reach their totals', async () =>
      (await fig('saga-started')) === '600' && (await fig('saga-completed')) === '300' &&
      (await fig('saga-cancelled')) === '200' &&
      (await fig('saga-compensated')) === '120', 60000);
  assert.equal(await fig('saga-inflight'), '100');
  assert.equal(await page.locator('#saga-none').isHidden(), true);

  /* The reasons: the bars add up to the cancellations counted. */
  await until('the reasons to add up to 200', async () => {
    const titles = await page.locator('#saga-reasons g.bar title').allTextContents();
    const sum = titles.map((x) => Number(x.split(': ').pop().replace(/,/g, '')))
                      .reduce((a, v) => a + v, 0);
    return sum === 200;
  }, 60000);

  /* The live charts draw exactly the four saga counters. */
  await until('the saga charts to have points', async () =>
      Number(await page.locator('#saga-value-chart').getAttribute('data-points')) >= 1);
  assert.equal(await page.locator('#saga-value-chart').getAttribute('data-series'), '4');
  assert.equal(await page.locator('#saga-rate-chart').getAttribute('data-series'), '4');
  assert.equal(await page.locator('#saga-history .saga-history-chart').count(), 4);
  await b.shot('saga');
});

test('saga page without a saga says how to get one',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd();
  t.after(() => fd.stop());
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(fd.url + '/#/saga');
  await page.locator('#saga-none').waitFor({state: 'visible'});
  assert.match(await page.locator('#saga-none').textContent(), /streams\/orders\.flow/);
  assert.equal(await page.locator('#saga-started-value').getAttribute('data-value'), '');
  assert.deepEqual(errors, []);
});
