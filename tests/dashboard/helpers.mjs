/*
 * Shared fixtures of the dashboard's browser tests: a real flowd on a free
 * loopback port with a fresh data directory, and a headless Chromium with a
 * fresh profile. Everything started here is stopped by stop(), which the
 * tests call from t.after() so it runs even when an assertion fails; an
 * exit hook kills whatever is left if the test process itself dies.
 */

import {spawn} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_ROOT = path.resolve(here, '..', '..');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.FLOW_SCREENSHOT_DIR ||
                     fs.mkdtempSync(path.join(os.tmpdir(), 'flow-shots-'));
fs.mkdirSync(SHOTS, {recursive: true});

/* Process groups still alive, killed on exit whatever happens. */
const live = new Set();
function killAll() {
  for (const pid of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch (e) {
      /* Already gone. */
    }
  }
}
process.on('exit', killAll);
/* A timeout of the test harness ends us with a signal: clean up first. */
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    killAll();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15));
  });
}

export function flowdPath() {
  const p = process.env.FLOWD;
  if (!p || !fs.existsSync(p)) return null;
  return p;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Polls fn until it returns a truthy value, or throws after timeoutMs. */
export async function until(what, fn, timeoutMs = 30000, everyMs = 200) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}` + (last ? `: ${last.message}` : ''));
    await sleep(everyMs);
  }
}

/*
 * Starts flowd: returns {url, port, dataDir, token, log(), stop()}.
 * opts.token sets --token; otherwise flowd makes its own token in the data
 * directory and fd.token is read from there (none with --auth=none).
 * opts.dataDir reuses a data directory; opts.args adds flags.
 */
let starts = 0;

export async function startFlowd(opts = {}) {
  const exe = flowdPath();
  if (!exe) throw new Error('FLOWD is not set to a built flowd');
  const dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'flow-dash-'));
  /* Port 0: flowd binds any free port and prints it. */
  let port = opts.port || 0;
  const logFile = path.join(dataDir, `flowd-test-${++starts}.log`);
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--data-dir', dataDir,
                '--dashboard-dir', path.join(SOURCE_ROOT, 'dashboard'),
                '--uplot-dir', path.join(SOURCE_ROOT, 'node_modules', 'uplot', 'dist')];
  if (opts.token) args.push('--token', opts.token);
  if (opts.args) args.push(...opts.args);
  const out = fs.openSync(logFile, 'a');
  /* Its own process group, so stop() also reaches the apps it spawned. */
  const proc = spawn(exe, args, {detached: true, stdio: ['ignore', out, out],
                                 env: {PATH: process.env.PATH, HOME: dataDir,
                                       LANG: 'C.UTF-8'}});
  fs.closeSync(out);
  live.add(proc.pid);
  let exited = null;
  proc.on('exit', (code, sig) => {
    exited = sig ? `killed by ${sig}` : `exit status ${code}`;
  });
  let url = null;
  const log = () => {
    try {
      return fs.readFileSync(logFile, 'utf8').slice(-4000);
    } catch (e) {
      return '';
    }
  };
  let token = opts.token || null;
  let stopped = false;
  async function stop({removeData = !opts.dataDir, signal = 'SIGTERM'} = {}) {
    if (stopped) return;
    stopped = true;
    try {
      process.kill(-proc.pid, signal);
    } catch (e) {
      /* Already gone. */
    }
    for (let i = 0; i < 100 && exited === null; i++) await sleep(100);
    /* Whatever is left of the group (flowd or an app) is killed. */
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch (e) {
      /* The whole group is gone. */
    }
    live.delete(proc.pid);
    if (removeData) fs.rmSync(dataDir, {recursive: true, force: true});
  }
  try {
    await until('flowd to print its port', () => {
      if (exited !== null) throw new Error(`flowd ${exited}; its log:\n${log()}`);
      const m = /listening on http:\/\/[^\s/]+:(\d+)\//.exec(log());
      if (m) port = Number(m[1]);
      return m;
    }, 20000, 50);
    url = `http://127.0.0.1:${port}`;
    const tokenFile = path.join(dataDir, 'token');
    if (!token && fs.existsSync(tokenFile))
      token = fs.readFileSync(tokenFile, 'utf8').trim();
    const headers = token ? {Authorization: 'Bearer ' + token} : {};
    await until('flowd to answer /ready', async () => {
      if (exited !== null) throw new Error(`flowd ${exited}; its log:\n${log()}`);
      const r = await fetch(url + '/ready', {headers});
      return r.ok;
    }, 20000, 100);
  } catch (e) {
    await stop();
    throw e;
  }
  return {url, port, dataDir, token, proc, log, stop,
          exited: () => exited};
}

/* A JSON request to flowd; returns {status, body}. */
export async function api(fd, method, p, body) {
  const headers = {Accept: 'application/json'};
  if (fd.token) headers.Authorization = 'Bearer ' + fd.token;
  const init = {method, headers};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(fd.url + p, init);
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (e) {
    json = {raw: text};
  }
  return {status: r.status, body: json};
}

export const DEMO = 'load-sim --rate=500 | account-events | counter';

/* flowd flags that load the project's demo file and deploy its streams. */
export function demoArgs(...streams) {
  const args = ['--load', path.join(SOURCE_ROOT, 'streams', 'demo.flow')];
  for (const s of streams) args.push('--deploy', s);
  return args;
}

/* Waits until flowd reports stream `name` as deployed. */
export async function waitDeployed(fd, name) {
  await until(`${name} to be deployed`, async () => {
    const d = await api(fd, 'GET', '/streams/definitions/' + name);
    return d.body && d.body.status === 'deployed';
  }, 30000);
}

/* Creates and deploys the demo stream, then waits for `deployed`. */
export async function deployDemo(fd, name = 'demo', dsl = DEMO) {
  const r = await api(fd, 'POST', '/streams/definitions',
                      {name, definition: dsl, deploy: true});
  if (r.status !== 201 && r.status !== 409)
    throw new Error(`creating ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  await until(`${name} to be deployed`, async () => {
    const d = await api(fd, 'GET', '/streams/definitions/' + name);
    return d.body && d.body.status === 'deployed';
  }, 30000);
}

/* The address that opens the dashboard logged in, as scripts/run.sh prints. */
export function loginUrl(fd) {
  return fd.url + '/' + (fd.token ? '#token=' + encodeURIComponent(fd.token) : '');
}

/*
 * Launches headless Chromium with a fresh profile. Returns {page, problems,
 * shot(name), close()}: problems collects console errors, page errors and
 * any dialog (alert, confirm, prompt), which the page never opens by itself.
 * Given fd, the tab first opens loginUrl(fd), as a user of run.sh would,
 * and keeps the token for its session.
 */
export async function openBrowser(t, fd) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: {width: 1280, height: 900},
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const problems = {console: [], page: [], dialogs: []};
  page.on('console', (m) => {
    if (m.type() === 'error') problems.console.push(m.text());
  });
  page.on('pageerror', (e) => problems.page.push(String(e && e.message || e)));
  page.on('dialog', (d) => {
    problems.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  /* A script that runs injected markup would set this. */
  await page.addInitScript(() => {
    window.__flowInjected = [];
    for (const k of ['alert', 'confirm', 'prompt'])
      window[k] = (...a) => { window.__flowInjected.push([k, ...a]); };
  });
  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    await ctx.close().catch(() => {});
    fs.rmSync(profile, {recursive: true, force: true});
  }
  async function shot(name) {
    const file = path.join(SHOTS, name + '.png');
    await page.screenshot({path: file, fullPage: true});
    if (t) t.diagnostic('screenshot: ' + file);
    return file;
  }
  if (fd && fd.token) {
    try {
      await page.goto(loginUrl(fd));
      await until('the page to take the token', () => page.evaluate(
          (tok) => sessionStorage.getItem('flow.token') === tok &&
                   !location.href.includes('token='), fd.token), 20000);
    } catch (e) {
      await close();
      throw e;
    }
  }
  return {page, problems, shot, close};
}
