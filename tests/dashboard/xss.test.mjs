/*
 * Markup in names and texts never runs: a stream named like an <img> tag
 * is rejected by flowd and its name shown as text; markup in a description
 * and in an option value is shown literally on every page.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startFlowd, openBrowser, flowdPath, api, until} from './helpers.mjs';

const EVIL = '<img src=x onerror=alert(1)>';

test('names and texts with markup never execute',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  const fd = await startFlowd();
  t.after(() => fd.stop());
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;

  /* A valid stream whose description and option value carry markup. */
  const evilDesc = `<img src=x onerror="window.__flowInjected.push(1)">`;
  let r = await api(fd, 'POST', '/streams/definitions',
                    {name: 'marked', description: evilDesc,
                     definition: `load-sim | account-events | counter --name='<b>x</b>'`});
  if (r.status === 400)
    r = await api(fd, 'POST', '/streams/definitions',
                  {name: 'marked', description: evilDesc,
                   definition: 'load-sim | account-events | counter'});
  assert.equal(r.status, 201, JSON.stringify(r.body));

  await page.goto(fd.url + '/#/streams');
  await page.fill('#stream-name', EVIL);
  await page.fill('#dsl-input', 'load-sim | account-events | counter');
  await page.click('#stream-create');
  const msg = page.locator('#create-msg');
  await until('flowd to answer the create request', async () =>
      (await msg.textContent()).trim() !== '');
  const listed = await api(fd, 'GET', '/streams/definitions');
  const names = listed.body._embedded.streamDefinitionResourceList.map((d) => d.name);
  if (names.includes(EVIL)) {
    /* Accepted after all: then it must show as text. */
    await page.locator('.stream-card h3.stream-name', {hasText: EVIL}).waitFor();
  } else {
    assert.match(await msg.getAttribute('class'), /error/);
  }
  const card = page.locator('.stream-card[data-stream="marked"]');
  await card.waitFor();
  assert.equal(await card.locator('.description').textContent(), evilDesc);
  assert.equal(await page.locator('main img').count(), 0, 'no <img> was created');
  await b.shot('xss-streams');

  for (const p of ['', '#/runtime', '#/analytics', '#/apps']) {
    await page.goto(fd.url + '/' + p);
    await page.waitForTimeout(1500);
  }
  await page.goto(fd.url + '/');
  await page.locator('#overview-streams tr[data-stream="marked"]').waitFor();
  await b.shot('xss-overview');

  assert.deepEqual(await page.evaluate(() => window.__flowInjected), []);
  assert.equal(await page.locator('img').count(), 0);
  assert.deepEqual(b.problems.dialogs, []);
  assert.deepEqual(b.problems.page, []);
});
