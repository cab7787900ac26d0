/*
 * The Streams page against a real flowd: a typo in the DSL box is marked
 * inline at the offending spot; a stream created from the form can be
 * deployed and undeployed from the page and its status follows.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startFlowd, openBrowser, flowdPath, api, until} from './helpers.mjs';

test('a typo is shown inline under the offending app name',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd();
  t.after(() => fd.stop());
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;

  await page.goto(fd.url + '/#/streams');
  await page.fill('#stream-name', 'typo');
  const dsl = 'load-sim | account-events | cuonter';
  await page.locator('#dsl-input').pressSequentially(dsl, {delay: 10});
  /* While typing (validation route) or at the latest on Create. */
  const inline = page.locator('#dsl-error-inline');
  try {
    await inline.waitFor({state: 'visible', timeout: 5000});
  } catch (e) {
    await page.click('#stream-create');
    await inline.waitFor({state: 'visible', timeout: 10000});
  }
  const at = dsl.indexOf('cuonter');
  assert.equal(await inline.getAttribute('data-offset'), String(at));
  assert.equal(await page.locator('.editor mark.err-mark').textContent(), 'cuonter');
  assert.match(await inline.textContent(), /cuonter/);
  const diag = page.locator('#dsl-errors .diag').first();
  assert.equal(await diag.getAttribute('data-column'), String(at + 1));
  /* The caret line puts ^ under the c of cuonter. */
  const caret = (await diag.locator('pre.caret-line').textContent()).split('\n')[1];
  assert.equal(caret.indexOf('^'), at);
  /* The message box sits under the marked word, not elsewhere. */
  const mb = await page.locator('.editor mark.err-mark').boundingBox();
  const ib = await inline.boundingBox();
  assert.ok(ib.y >= mb.y + mb.height - 1, 'message below the word');
  assert.ok(Math.abs(ib.x - mb.x) < 4, 'message starts under the word');
  await b.shot('streams-typo');

  /* Creating with the typo stores nothing; the page checks the definition
   * first and sends no create request that would fail. */
  const refused = [];
  page.on('response', (res) => {
    if (res.status() >= 400) refused.push(`${res.status()} ${res.url()}`);
  });
  await page.click('#stream-create');
  await inline.waitFor({state: 'visible'});
  await page.locator('#create-msg.error').waitFor();
  assert.equal((await api(fd, 'GET', '/streams/definitions/typo')).status, 404);
  /* An invalid definition is an answer, not a failed request. */
  const v = await api(fd, 'POST', '/streams/validation', {definition: dsl});
  assert.equal(v.status, 200);
  assert.equal(v.body.valid, false);
  assert.equal(v.body.errors[0].offset, at);

  /* Fixing it clears the marks once the definition is accepted. */
  await page.fill('#dsl-input', 'load-sim | account-events | counter');
  await page.click('#stream-create');
  await page.locator('.stream-card[data-stream="typo"]').waitFor({timeout: 10000});
  assert.equal(await inline.isVisible(), false);
  assert.equal(await page.locator('#dsl-errors .diag').count(), 0);

  assert.deepEqual(refused, []);
  assert.deepEqual(b.problems.page, []);
  assert.deepEqual(b.problems.console, []);
  assert.deepEqual(b.problems.dialogs, []);
});

test('deploy and undeploy from the page change the status',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd();
  t.after(() => fd.stop());
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;

  await page.goto(fd.url + '/#/streams');
  await page.fill('#stream-name', 'clicks');
  await page.fill('#dsl-input', 'load-sim --rate=100 | account-events | counter');
  await page.fill('#stream-description', 'made by the browser test');
  await page.click('#stream-create');
  const card = page.locator('.stream-card[data-stream="clicks"]');
  await card.waitFor({timeout: 10000});
  const status = card.locator('.status');
  assert.equal(await status.getAttribute('data-status'), 'undeployed');
  assert.equal((await api(fd, 'GET', '/streams/definitions/clicks')).body.status,
               'undeployed');

  await card.locator('button.deploy').click();
  await card.locator('.status[data-status="deployed"]').waitFor({timeout: 30000});
  assert.equal((await api(fd, 'GET', '/streams/definitions/clicks')).body.status,
               'deployed');
  await until('the graph to draw the running apps', async () =>
      (await card.locator('svg.graph g.node.app').count()) === 3);
  /* Logs: one section per instance, read through flowd. */
  await card.locator('button.logs-btn').click();
  await until('one log per instance', async () =>
      (await card.locator('.logs pre.log').count()) === 3);
  await b.shot('streams-deployed');

  /* Scale the counter to two instances from the page. */
  await card.locator('select.scale-app').selectOption('counter');
  await card.locator('input.scale-count').fill('2');
  await card.locator('button.scale').click();
  await until('two counter instances', async () => {
    const r = await api(fd, 'GET', '/streams/deployments/clicks');
    const app = (r.body.apps || []).find((a) => a.label === 'counter');
    return app && (app.instances || []).filter((i) => i.state === 'deployed').length === 2;
  }, 30000);
  await card.locator('.status[data-status="deployed"]').waitFor({timeout: 30000});

  await card.locator('button.undeploy').click();
  await card.locator('.status[data-status="undeployed"]').waitFor({timeout: 30000});
  assert.equal((await api(fd, 'GET', '/streams/definitions/clicks')).body.status,
               'undeployed');
  await b.shot('streams-undeployed');

  /* Destroy takes two clicks and removes the card. */
  await card.locator('button.destroy').click();
  await card.locator('button.destroy').click();
  await card.waitFor({state: 'detached', timeout: 30000});
  assert.equal((await api(fd, 'GET', '/streams/definitions/clicks')).status, 404);

  assert.deepEqual(b.problems.page, []);
  assert.deepEqual(b.problems.console, []);
  assert.deepEqual(b.problems.dialogs, []);
});
