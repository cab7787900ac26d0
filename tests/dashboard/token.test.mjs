/*
 * flowd's own token in the URL run.sh prints (/#token=TOKEN): the page is
 * logged in, keeps the token for the tab and removes it from the address
 * bar, also after a route (#/runtime&token=TOKEN).
 *
 * flowd with a token: the page asks for it once (in-page dialog, not a
 * browser prompt); cancelled, it does not ask again by itself but offers
 * an "Enter token" button; the token is kept for the tab and the page then
 * shows live data, the event stream authenticating with ?access_token=.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startFlowd, deployDemo, openBrowser, flowdPath, loginUrl, until} from './helpers.mjs';

test('the token is asked for once and kept for the session',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const token = 'tok-' + Math.random().toString(36).slice(2);
  const fd = await startFlowd({token});
  t.after(() => fd.stop());
  await deployDemo(fd);
  const b = await openBrowser(t);
  t.after(() => b.close());
  const {page} = b;

  await page.goto(fd.url + '/');
  const dlg = page.locator('#token-dialog[open]');
  await dlg.waitFor({timeout: 20000});
  await b.shot('token-dialog');

  /* Cancelled: the page says why it is empty and does not nag. */
  await page.click('#token-form button[value="cancel"]');
  await page.locator('#page-overview p.error').waitFor({timeout: 20000});
  await page.goto(fd.url + '/#/runtime');
  await page.locator('#page-runtime p.error:not([hidden])').waitFor({timeout: 20000});
  assert.equal(await page.locator('#token-dialog[open]').count(), 0);
  await page.locator('#token-button').click({timeout: 20000});
  await dlg.waitFor();
  await page.fill('#token-input', token);
  await page.click('#token-form button[value="ok"]');
  await dlg.waitFor({state: 'detached'}).catch(() => {});
  /* The page it was on loads now. */
  await page.locator('#runtime-table tbody tr').first().waitFor({timeout: 20000});
  await page.goto(fd.url + '/');
  await page.locator('#overview-streams tr[data-stream="demo"] .status[data-status="deployed"]')
      .waitFor({timeout: 20000});
  await page.locator('#conn[data-state="open"]').waitFor({timeout: 20000});
  assert.equal(await page.evaluate(() => sessionStorage.getItem('flow.token')), token);

  /* A reload and other pages do not ask again. */
  await page.reload();
  await page.goto(fd.url + '/#/runtime');
  await page.locator('#runtime-table tbody tr').first().waitFor({timeout: 20000});
  assert.equal(await page.locator('#token-dialog[open]').count(), 0);
  await b.shot('token-runtime');

  assert.deepEqual(b.problems.dialogs, []);
  assert.deepEqual(b.problems.page, []);
  /* Only the first, expected 401 may have been logged. */
  assert.ok(b.problems.console.every((m) => /status of 401/.test(m)),
            b.problems.console.join('\n'));
});

test('the token in the fragment logs in and leaves the address bar',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd();
  t.after(() => fd.stop());
  assert.match(fd.token, /^[0-9a-f]{64}$/);
  await deployDemo(fd);
  const b = await openBrowser(t);
  t.after(() => b.close());
  const {page} = b;

  await page.goto(loginUrl(fd));
  await page.locator('#overview-streams tr[data-stream="demo"] .status[data-status="deployed"]')
      .waitFor({timeout: 20000});
  await page.locator('#conn[data-state="open"]').waitFor({timeout: 20000});
  assert.equal(page.url(), fd.url + '/');
  assert.equal(await page.evaluate(() => location.hash), '');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('flow.token')), fd.token);
  assert.equal(await page.locator('#token-dialog[open]').count(), 0);
  await b.shot('token-fragment');

  /* A fresh tab with the token after a route: the route stays. */
  const page2 = await page.context().newPage();
  await page2.goto(fd.url + '/#/runtime&token=' + fd.token);
  await page2.locator('#runtime-table tbody tr').first().waitFor({timeout: 20000});
  assert.equal(page2.url(), fd.url + '/#/runtime');
  assert.equal(await page2.locator('#token-dialog[open]').count(), 0);
  /* The history holds no entry with the token either. */
  await page2.goto(fd.url + '/#/apps');
  await page2.goBack();
  await until('back on the runtime page', async () => page2.url().endsWith('#/runtime'));
  assert.ok(!page2.url().includes('token='), page2.url());
  await page2.close();

  assert.deepEqual(b.problems.dialogs, []);
  assert.deepEqual(b.problems.page, []);
  assert.deepEqual(b.problems.console, []);
});
