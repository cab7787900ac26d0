/*
 * Fifty streams, all deployed: every page lists them all with the right
 * status while they run and update every second. Each is a light
 * two-app stream (a time source into a counter), so the hundred app
 * processes leave the machine to the browser. How long the Streams page took
 * to show them and the longest main-thread task seen are reported, not
 * asserted.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startFlowd, api, openBrowser, flowdPath, until} from './helpers.mjs';

const N = 50;
const RUNNING = N;

test('fifty streams stay usable', {skip: !flowdPath() && 'FLOWD is not set'},
     async (t) => {
  const fd = await startFlowd();
  t.after(() => fd.stop());
  for (let i = 0; i < N; i++) {
    const name = 's' + String(i).padStart(2, '0');
    const r = await api(fd, 'POST', '/streams/definitions',
                        {name, definition: `time --fixed-delay=1 | counter --name=c-${name}`,
                         deploy: i < RUNNING});
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  await until('the running streams to be deployed', async () => {
    const r = await api(fd, 'GET', '/streams/definitions?size=100');
    return r.body._embedded.streamDefinitionResourceList
        .filter((d) => d.status === 'deployed').length === RUNNING;
  }, 60000, 500);

  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;
  await page.addInitScript(() => {
    window.__longest = 0;
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
    }).observe({type: 'longtask', buffered: true});
  });

  await page.goto(fd.url + '/');
  await until('fifty rows', async () =>
      (await page.locator('#overview-streams tbody tr').count()) === N);
  await until('every row deployed', async () =>
      (await page.locator('#overview-streams .status[data-status="deployed"]').count()) ===
          RUNNING);
  await until('a series per stream in the rate chart', async () =>
      Number(await page.locator('#rate-chart').getAttribute('data-series')) === RUNNING);
  await b.shot('fifty-overview');

  /* Long tasks are counted from here, not during the screenshots. */
  await page.evaluate(() => {
    window.__longest = 0;
  });
  const t0 = Date.now();
  await page.goto(fd.url + '/#/streams');
  await until('fifty cards', async () =>
      (await page.locator('.stream-card').count()) === N);
  const shown = Date.now() - t0;
  const atLoad = await page.evaluate(() => {
    const v = window.__longest;
    window.__longest = 0;
    return v;
  });
  assert.equal(await page.locator('.stream-card svg.graph').count(), N);
  /* The filter narrows the list while updates keep arriving. */
  await page.fill('#stream-search', 's4');
  await until('the filtered list', async () =>
      (await page.locator('.stream-card').count()) === 10);
  await page.fill('#stream-search', '');
  await page.waitForTimeout(5000);
  const longest = await page.evaluate(() => window.__longest);
  await b.shot('fifty-streams');

  t.diagnostic(`streams page showed ${N} streams in ${shown} ms; longest ` +
               `main-thread task while loading ${Math.round(atLoad)} ms, ` +
               `afterwards (filtering, live updates) ${Math.round(longest)} ms`);
  assert.deepEqual(b.problems.page, []);
  assert.deepEqual(b.problems.console, []);
});
