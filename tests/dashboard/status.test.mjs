/*
 * The status says what users see, in the dashboard: a stream whose app
 * rejects every event shows `degraded` with the reason and the last
 * error; an instance stopped with SIGSTOP shows `stale` on the Runtime
 * page and its stream `degraded` with the reason, until SIGCONT.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startFlowd, openBrowser, flowdPath, api, until} from './helpers.mjs';

test('degraded and stale streams show their state and reason',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd();
  t.after(() => fd.stop());
  for (const [name, definition] of [
    ['bad', 'load-sim --rate=300 --illegal-ratio=1 | account-events | counter'],
    ['frozen', 'time | log'],
  ]) {
    const r = await api(fd, 'POST', '/streams/definitions', {name, definition});
    assert.equal(r.status, 201, JSON.stringify(r.body));
    /* The stale state is what a stream without a guarantee shows; under
     * exactly-once flowd restarts a stopped app's region instead
     * (docs/flowd.md "Checkpoints and recovery"). */
    const props = name === 'frozen' ? {'flow.guarantee': 'none'} : {};
    const d = await api(fd, 'POST', '/streams/deployments/' + name, props);
    assert.equal(d.status, 202, JSON.stringify(d.body));
  }
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;
  await page.goto(fd.url + '/#/streams');

  const bad = page.locator('.stream-card[data-stream="bad"]');
  await bad.locator('.status[data-status="degraded"]').waitFor({timeout: 30000});
  const badDesc = await bad.locator('.status-desc').textContent();
  assert.match(badDesc, /^app account-events failed \d+ of \d+ events in the last 10 s \(100%, over its 50% error threshold\); last error: rejected a /);
  assert.equal(await bad.locator('.status').getAttribute('title'), badDesc);

  const frozen = page.locator('.stream-card[data-stream="frozen"]');
  await frozen.locator('.status[data-status="deployed"]').waitFor({timeout: 30000});
  const dep = await api(fd, 'GET', '/streams/deployments/frozen');
  const log = dep.body.apps.find((a) => a.label === 'log').instances[0];
  process.kill(log.pid, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(log.pid, 'SIGCONT');
    } catch (e) {
      /* Gone with flowd. */
    }
  });
  await frozen.locator('.status[data-status="degraded"]').waitFor({timeout: 30000});
  assert.match(await frozen.locator('.status-desc').textContent(),
               /^app log instance 0 stopped reporting metrics \(stale for \d+ s\)$/);
  /* The graph marks the silent app. */
  await until('the graph to mark log stale', async () =>
      (await frozen.locator('svg.graph g.node.app.st-stale').count()) === 1);
  await b.shot('status-degraded');

  await page.goto(fd.url + '/#/runtime');
  const row = page.locator('#runtime-table tr[data-id="frozen.log-0"]');
  await row.locator('.status[data-status="stale"]').waitFor({timeout: 30000});
  const badRow = page.locator('#runtime-table tr[data-id="bad.account-events-0"]');
  await until('the last error on the runtime page', async () =>
      /^rejected a /.test(await badRow.locator('td').nth(12).textContent()));
  await b.shot('status-runtime-stale');

  process.kill(log.pid, 'SIGCONT');
  await row.locator('.status[data-status="deployed"]').waitFor({timeout: 30000});
  assert.equal((await api(fd, 'GET', '/streams/definitions/frozen')).body.status,
               'deployed');

  assert.deepEqual(b.problems.page, []);
  assert.deepEqual(b.problems.console, []);
  assert.deepEqual(b.problems.dialogs, []);
});
