/*
 * flowd restarts under an open dashboard: the page shows that it lost the
 * connection, reconnects by itself when flowd is back on the same port,
 * and shows the stream deployed again.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {startFlowd, deployDemo, openBrowser, flowdPath} from './helpers.mjs';

test('the page reconnects by itself after a flowd restart',
     {skip: !flowdPath() && 'FLOWD is not set'}, async (t) => {
  let fd = await startFlowd();
  const {dataDir, port} = fd;
  t.after(async () => {
    await fd.stop();
    fs.rmSync(dataDir, {recursive: true, force: true});
  });
  await deployDemo(fd);
  const b = await openBrowser(t, fd);
  t.after(() => b.close());
  const {page} = b;

  await page.goto(fd.url + '/');
  await page.locator('#conn[data-state="open"]').waitFor({timeout: 20000});
  await page.locator('#overview-streams tr[data-stream="demo"] .status[data-status="deployed"]')
      .waitFor({timeout: 20000});

  await fd.stop({removeData: false});
  await page.locator('#conn[data-state="reconnecting"]').waitFor({timeout: 20000});
  const banner = page.locator('#banner');
  await banner.waitFor({state: 'visible'});
  assert.match(await banner.textContent(), /reconnecting/i);
  await b.shot('reconnect-lost');

  fd = await startFlowd({dataDir, port});
  await page.locator('#conn[data-state="open"]').waitFor({timeout: 30000});
  await banner.waitFor({state: 'hidden'});
  await page.locator('#overview-streams tr[data-stream="demo"] .status[data-status="deployed"]')
      .waitFor({timeout: 30000});
  await b.shot('reconnect-back');
  assert.deepEqual(b.problems.page, []);
  assert.deepEqual(b.problems.dialogs, []);
});
