/*
 * The project's demo (streams/demo.flow: the `accounts` pipeline and its
 * `event-types` tap) in the dashboard: shown as deployed on the overview,
 * its graph has the three apps, the tap is drawn from its source, the
 * event-rate chart gains points, the counters rise, the field-value
 * counter shows bars, and every page renders without a console error.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startFlowd, demoArgs, waitDeployed, openBrowser, flowdPath, until} from './helpers.mjs';

test('demo stream: status, graph, live chart, counters, no console errors',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd({args: demoArgs('accounts', 'event-types')});
  t.after(() => fd.stop());
  await waitDeployed(fd, 'accounts');
  await waitDeployed(fd, 'event-types');
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;

  await page.goto(fd.url + '/');
  const row = page.locator('#overview-streams tr[data-stream="accounts"]');
  await row.locator('.status[data-status="deployed"]').waitFor({timeout: 20000});
  assert.equal((await row.locator('.status').textContent()).trim(), 'deployed');

  /* The live chart gains points as the `rates` events arrive. */
  const points = () => page.locator('#rate-chart').getAttribute('data-points')
                           .then((v) => Number(v || 0));
  await until('the rate chart to get a first point', async () => (await points()) >= 1);
  const before = await points();
  await page.waitForTimeout(5000);
  await until('the rate chart to gain points', async () => (await points()) >= before + 2);
  await until('the overview to show a non-zero event rate', async () => {
    const txt = await row.locator('td.num').textContent();
    return /[1-9]/.test(txt);
  });
  await b.shot('overview');

  /* The graph shows the three apps in order, joined by two arrows. */
  await page.goto(fd.url + '/#/streams');
  const card = page.locator('.stream-card[data-stream="accounts"]');
  await card.waitFor();
  const labels = await card.locator('svg.graph g.node.app').evaluateAll(
      (gs) => gs.map((g) => g.dataset.label));
  assert.deepEqual(labels, ['load-sim', 'account-events', 'counter']);
  assert.equal(await card.locator('svg.graph line.edge').count(), 2);
  assert.equal(await card.locator('.status').getAttribute('data-status'), 'deployed');
  /* The tap: a tap node on accounts.load-sim, an arrow, the sink. */
  const tap = page.locator('.stream-card[data-stream="event-types"] svg.graph');
  assert.deepEqual(await tap.locator('g.node').evaluateAll(
                       (gs) => gs.map((g) => `${g.dataset.kind}:${g.dataset.name}`)),
                   ['tap:accounts.load-sim', 'app:field-value-counter']);
  assert.equal(await tap.locator('line.edge').count(), 1);
  await b.shot('streams-demo');

  /* Runtime: one row per instance, each with a pid. */
  await page.goto(fd.url + '/#/runtime');
  await until('three deployed instances', async () =>
      (await page.locator('#runtime-table tbody tr').count()) >= 3);
  const pids = await page.locator('#runtime-table tbody tr td:nth-child(4)').allTextContents();
  assert.ok(pids.every((p) => /^\d+$/.test(p.trim())), 'every instance has a pid: ' + pids);
  await until('a non-zero rate on the runtime page', async () =>
      (await page.locator('#runtime-table tbody tr td:nth-child(6)').allTextContents())
          .some((v) => /[1-9]/.test(v)));
  await b.shot('runtime');

  /* Analytics: a counter whose value rises. */
  await page.goto(fd.url + '/#/analytics');
  const value = page.locator('#counter-table td.counter-value').first();
  await value.waitFor({timeout: 20000});
  const v0 = Number(await value.getAttribute('data-value'));
  await until('a counter to rise', async () =>
      Number(await value.getAttribute('data-value')) > v0, 30000);
  await until('the counter chart to gain points', async () =>
      Number(await page.locator('#counter-rate-chart').getAttribute('data-points')) >= 2);
  await b.shot('analytics');

  /* Aggregate counters: another resolution redraws the bars. */
  await page.locator('#agg-chart .uplot').waitFor({timeout: 20000});
  await page.selectOption('#agg-resolution', 'hour');
  await until('the hourly view', async () =>
      /per hour/.test(await page.locator('#agg-chart .u-title').textContent()));
  assert.match(await page.locator('#agg-info').textContent(), /in the window/);

  await page.goto(fd.url + '/#/apps');
  await page.locator('details.app').first().waitFor();
  assert.ok(await page.locator('details.app[data-app="counter"]').count() === 1,
            'the registry lists counter');
  await page.locator('table.options').first().waitFor();
  await b.shot('apps');

  assert.deepEqual(b.problems.page, [], 'no page errors');
  assert.deepEqual(b.problems.console, [], 'no console errors');
  assert.deepEqual(b.problems.dialogs, [], 'no dialogs');
});

test('the demo tap\'s field-value counter shows as bars and as a pie',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd({args: demoArgs('accounts', 'event-types')});
  t.after(() => fd.stop());
  await waitDeployed(fd, 'accounts');
  await waitDeployed(fd, 'event-types');
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;

  await page.goto(fd.url + '/#/analytics');
  /* One bar per event type seen through the tap. */
  const fvc = page.locator('#fvc-list .fvc[data-name="event-types"]');
  const bars = fvc.locator('svg.fvc-bars g.bar');
  try {
    await until('two event types counted through the tap', async () =>
        (await bars.count()) >= 2, 30000);
  } finally {
    await b.shot('analytics-fvc');
  }
  const names = await bars.evaluateAll((gs) => gs.map((g) => g.dataset.value));
  assert.ok(names.every((n) => n.length > 0), 'event type names: ' + names);
  await fvc.locator('select').selectOption('pie');
  await fvc.locator('svg.fvc-pie').waitFor();
  assert.ok(await fvc.locator('svg.fvc-pie [data-value]').count() >= 2);
  await b.shot('analytics-fvc-pie');
  assert.deepEqual(b.problems.page, []);
  assert.deepEqual(b.problems.console, []);
});
