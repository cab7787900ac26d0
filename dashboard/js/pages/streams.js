/*
 * Streams: every definition with its status, DSL and graph; a create form
 * whose DSL box shows the parser's errors under the offending spot while
 * the user types and before Create (POST /streams/validation, or the
 * create request itself when flowd has no validation route); deploy,
 * undeploy, scale, destroy.
 */

import {all, get, post, del, enc, ApiError} from '../api.js';
import {h, replace, statusBadge, empty} from '../dom.js';
import {draw, parse} from '../graph.js';
import * as live from '../live.js';

const NAME_RE = /^[a-z][a-z0-9-]{0,47}$/;

/* Converts a UTF-8 byte offset into an index into the JS string. */
export function byteToIndex(text, byteOffset) {
  let bytes = 0;
  let i = 0;
  for (const ch of text) {
    if (bytes >= byteOffset) return i;
    const cp = ch.codePointAt(0);
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += ch.length;
  }
  return text.length;
}

/* Line and column (1-based) of index i in text. */
function lineCol(text, i) {
  const before = text.slice(0, i);
  const line = before.split('\n').length;
  const column = i - (before.lastIndexOf('\n') + 1) + 1;
  return {line, column};
}

/* The extent of the token starting at index i (at least one character). */
function tokenEnd(text, i) {
  const m = /^[^\s|>;]+/.exec(text.slice(i));
  return i + (m ? m[0].length : 1);
}

/*
 * The DSL editor: a textarea over a mirror that underlines the offending
 * token, a message placed right under that token, and the full list of
 * diagnostics (the source line with a caret) below the box.
 */
function dslEditor() {
  const textarea = h('textarea', {id: 'dsl-input', rows: 3, spellcheck: 'false',
                                  autocomplete: 'off', autocapitalize: 'off',
                                  placeholder: 'load-sim --rate=1000 | account-events | counter',
                                  'aria-describedby': 'dsl-errors'});
  const mirror = h('div', {class: 'mirror', 'aria-hidden': 'true'});
  const pop = h('div', {class: 'err-pop', id: 'dsl-error-inline', hidden: true,
                        role: 'alert'});
  const box = h('div', {class: 'editor'}, mirror, textarea, pop);
  const list = h('div', {class: 'diagnostics', id: 'dsl-errors'});

  function syncScroll() {
    mirror.scrollTop = textarea.scrollTop;
    mirror.scrollLeft = textarea.scrollLeft;
    placePop();
  }
  textarea.addEventListener('scroll', syncScroll);

  let mark = null;
  function placePop() {
    if (!mark || pop.hidden) return;
    pop.style.left = Math.max(0, mark.offsetLeft - mirror.scrollLeft) + 'px';
    pop.style.top =
        (mark.offsetTop + mark.offsetHeight - mirror.scrollTop + 4) + 'px';
  }

  /* Shows diagnostics [{offset, line, column, message}] for text. */
  function show(errors) {
    const text = textarea.value;
    mark = null;
    replace(list);
    if (!errors || !errors.length) {
      replace(mirror, text + '\n');
      pop.hidden = true;
      textarea.removeAttribute('aria-invalid');
      box.classList.remove('invalid');
      return;
    }
    box.classList.add('invalid');
    textarea.setAttribute('aria-invalid', 'true');
    const first = errors[0];
    const idx = Number.isInteger(first.offset)
                    ? byteToIndex(text, first.offset)
                    : indexOfLineCol(text, first.line, first.column);
    const end = Math.min(text.length, tokenEnd(text, idx));
    const marked = idx < text.length ? text.slice(idx, end) : ' ';
    mark = h('mark', {class: 'err-mark', dataset: {offset: idx}, text: marked});
    replace(mirror, text.slice(0, idx), mark, text.slice(end) + '\n');
    pop.hidden = false;
    pop.dataset.offset = String(idx);
    replace(pop, h('span', {class: 'caret', text: '▲'}), ' ',
            h('span', {text: first.message || 'invalid definition'}));
    placePop();
    for (const e of errors) {
      const i = Number.isInteger(e.offset) ? byteToIndex(text, e.offset)
                                           : indexOfLineCol(text, e.line, e.column);
      const lc = lineCol(text, i);
      const lineText = text.split('\n')[lc.line - 1] || '';
      const prefix = lineText.slice(0, lc.column - 1).replace(/[^\t]/g, ' ');
      list.append(h('div', {class: 'diag', dataset: {offset: i, line: lc.line,
                                                     column: lc.column}},
                    h('div', {class: 'msg', text: `${lc.line}:${lc.column}: ${e.message}`}),
                    h('pre', {class: 'caret-line', text: lineText + '\n' + prefix + '^'})));
    }
  }

  function indexOfLineCol(text, line, column) {
    const lines = text.split('\n');
    let i = 0;
    for (let l = 1; l < (line || 1) && l <= lines.length; l++)
      i += lines[l - 1].length + 1;
    return Math.min(text.length, i + Math.max(0, (column || 1) - 1));
  }

  show([]);
  return {box, list, textarea, show};
}

function createForm(onCreated) {
  const name = h('input', {id: 'stream-name', type: 'text', maxlength: 48,
                           placeholder: 'my-stream', autocomplete: 'off',
                           spellcheck: 'false'});
  const nameHint = h('span', {class: 'hint', id: 'stream-name-hint'});
  const editor = dslEditor();
  const desc = h('input', {id: 'stream-description', type: 'text',
                           placeholder: 'optional description'});
  const deploy = h('input', {id: 'stream-deploy', type: 'checkbox'});
  const submit = h('button', {type: 'submit', class: 'primary', id: 'stream-create',
                              text: 'Create'});
  const msg = h('p', {class: 'form-msg', id: 'create-msg', role: 'status'});
  const proposals = h('div', {class: 'proposals', id: 'dsl-proposals'});
  const checkNote = h('span', {class: 'hint', id: 'dsl-check-note'});

  let validation = true; /* false once flowd says it has no validation route */
  let seq = 0;
  let timer = null;

  /* Asks flowd whether text is a valid definition. Returns the errors to
   * show ([] when valid), or null when flowd has no validation route (then
   * the create request itself reports them). An invalid definition is an
   * answer (200 {"valid": false, "errors"}), not a failed request, so
   * checking while the user types logs no network errors. */
  async function check(text) {
    if (!validation) return null;
    try {
      const res = await post('/streams/validation', {definition: text});
      if (res && res.valid === false)
        return Array.isArray(res.errors) && res.errors.length
            ? res.errors : [{offset: 0, line: 1, column: 1,
                             message: res.message || 'the definition is not valid'}];
      return [];
    } catch (e) {
      if (e.status === 404 || e.status === 405) {
        validation = false;
        return null;
      }
      if (e.body && Array.isArray(e.body.errors) && e.body.errors.length)
        return e.body.errors; /* an older flowd answers 400 */
      throw e;
    }
  }

  async function validate() {
    const text = editor.textarea.value;
    const my = ++seq;
    if (!text.trim()) {
      editor.show([]);
      checkNote.textContent = '';
      return;
    }
    if (!validation) return;
    checkNote.textContent = 'checking…';
    let errors;
    try {
      errors = await check(text);
    } catch (e) {
      if (my !== seq) return;
      checkNote.textContent = e.status ? e.message : 'flowd is not reachable';
      return;
    }
    if (my !== seq) return;
    if (errors === null) {
      checkNote.textContent = 'checked when you press Create';
    } else {
      editor.show(errors);
      checkNote.textContent = errors.length ? '' : 'valid';
    }
  }

  /* Content assist: what may come next, from flowd's completion helper. */
  let cseq = 0;
  async function complete() {
    const ta = editor.textarea;
    const text = ta.value;
    const my = ++cseq;
    if (ta.selectionEnd !== text.length) {
      replace(proposals);
      return;
    }
    let res;
    try {
      res = await get('/completions/stream?start=' + enc(text));
    } catch (e) {
      res = null;
    }
    if (my !== cseq) return;
    const list = (res && Array.isArray(res.proposals) ? res.proposals : []).slice(0, 8);
    replace(proposals, list.length ? h('span', {class: 'hint', text: 'next:'}) : null,
            list.map((p) => h('button', {
              type: 'button', class: 'proposal', title: p.explanation || null,
              text: String(p.text).startsWith(text) && text
                        ? '…' + String(p.text).slice(text.length) : String(p.text),
              onclick: () => {
                ta.value = String(p.text);
                ta.focus();
                ta.dispatchEvent(new Event('input'));
              },
            })));
  }

  editor.textarea.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      validate();
      complete();
    }, 250);
  });
  name.addEventListener('input', () => {
    const v = name.value;
    nameHint.textContent = v && !NAME_RE.test(v)
        ? 'a name is a lowercase letter, then up to 47 lowercase letters, digits or -'
        : '';
  });

  const form = h('form', {class: 'panel create', id: 'create-form', novalidate: true},
                 h('h2', {text: 'Create a stream'}),
                 h('label', {class: 'row'}, h('span', {text: 'Name'}), name, nameHint),
                 h('div', {class: 'row'},
                   h('label', {for: 'dsl-input', text: 'Definition'}), checkNote),
                 editor.box, proposals, editor.list,
                 h('label', {class: 'row'}, h('span', {text: 'Description'}), desc),
                 h('div', {class: 'row actions'},
                   h('label', {}, deploy, ' deploy it now'), submit),
                 msg);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearTimeout(timer);
    seq++;
    msg.textContent = '';
    msg.className = 'form-msg';
    submit.disabled = true;
    try {
      const body = {name: name.value.trim(), definition: editor.textarea.value,
                    deploy: deploy.checked};
      if (desc.value.trim()) body.description = desc.value.trim();
      /* Checked first, so that a definition with errors is never sent. */
      const errors = await check(body.definition);
      if (errors && errors.length) {
        editor.show(errors);
        msg.classList.add('error');
        msg.textContent = 'The definition has errors; see under the text.';
        return;
      }
      const res = await post('/streams/definitions', body);
      msg.textContent = `Created stream ${res && res.name ? res.name : body.name}.`;
      msg.classList.add('ok');
      name.value = '';
      desc.value = '';
      editor.textarea.value = '';
      editor.show([]);
      replace(proposals);
      checkNote.textContent = '';
      onCreated(res);
    } catch (e) {
      msg.classList.add('error');
      if (e.body && Array.isArray(e.body.errors) && e.body.errors.length) {
        editor.show(e.body.errors);
        msg.textContent = 'The definition has errors; see under the text.';
      } else {
        msg.textContent = e.message;
      }
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/* Aggregates instance states per label of one stream, for the graph. */
function labelStates(stream) {
  const out = {};
  for (const i of live.state.instances.values()) {
    if (i.stream !== stream) continue;
    const prev = out[i.label];
    out[i.label] = !prev || prev === i.state ? i.state : 'partial';
  }
  return out;
}

function card(def, reload) {
  const name = def.name;
  const badge = h('span', {class: 'badge-slot'});
  const desc = h('span', {class: 'status-desc'});
  const graph = h('div', {class: 'graph-wrap'});
  const msg = h('p', {class: 'card-msg', role: 'status'});
  const roles = {};
  for (const a of def.apps || []) roles[a.name] = a.type;
  /* Labels for scaling: from flowd's parse, else from the picture's. */
  let labels = (def.apps || []).map((a) => a.label);
  if (!labels.length) {
    try {
      labels = parse(def.dslText).nodes.filter((n) => n.kind === 'app')
                   .map((n) => n.label);
    } catch (e) {
      labels = [];
    }
  }

  const btn = (text, cls, fn) => h('button', {type: 'button', class: cls, text,
                                             onclick: fn});
  /* Runs one action; then re-reads the stream unless it was destroyed. */
  async function act(label, fn, gone = false) {
    msg.textContent = label + '…';
    msg.className = 'card-msg';
    try {
      await fn();
      msg.textContent = '';
      if (gone) return;
    } catch (e) {
      msg.textContent = label + ' failed: ' + e.message;
      msg.classList.add('error');
    }
    refresh();
  }
  const deployBtn = btn('Deploy', 'deploy', () =>
      act('Deploying', () => post('/streams/deployments/' + enc(name), {})));
  const undeployBtn = btn('Undeploy', 'undeploy', () =>
      act('Undeploying', () => del('/streams/deployments/' + enc(name))));
  const labelSel = h('select', {class: 'scale-app', 'aria-label': 'app to scale'},
                     labels.map((l) => h('option', {value: l, text: l})));
  const countIn = h('input', {type: 'number', class: 'scale-count', min: 1, max: 64,
                              value: 2, 'aria-label': 'instances'});
  const scaleBtn = btn('Scale', 'scale', () => act('Scaling', () => post(
      `/streams/deployments/scale/${enc(name)}/${enc(labelSel.value)}/instances/${enc(countIn.value)}`,
      {})));
  let armed = null;
  let gone = false;
  const destroyBtn = btn('Destroy', 'destroy danger', () => {
    if (!armed) {
      destroyBtn.textContent = 'Really destroy?';
      armed = setTimeout(() => {
        armed = null;
        destroyBtn.textContent = 'Destroy';
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    act('Destroying', async () => {
      /* Once the definition is going, a re-read of it would only find it
       * gone (a 404 in the console): the card waits for the reload. */
      gone = true;
      try {
        await del('/streams/definitions/' + enc(name));
      } catch (e) {
        gone = false;
        throw e;
      }
      reload();
    }, true);
  });

  const logs = h('div', {class: 'logs', hidden: true});
  const logsBtn = btn('Logs', 'logs-btn', async () => {
    if (!logs.hidden) {
      logs.hidden = true;
      return;
    }
    logs.hidden = false;
    replace(logs, empty('Loading logs…'));
    try {
      const r = await get('/streams/logs/' + enc(name));
      const entries = Object.entries((r && r.logs) || {});
      replace(logs, entries.length
          ? entries.map(([id, text]) => h('div', {},
                h('b', {text: id}), h('pre', {class: 'log', text: text || '(empty)'})))
          : empty('No logs: the stream has not run yet.'));
    } catch (e) {
      replace(logs, h('p', {class: 'error', text: 'Could not read the logs: ' + e.message}));
    }
  });

  /* The delivery guarantee and its checkpoints (docs/rest.md). */
  const guarantee = h('p', {class: 'guarantee'});
  function showGuarantee(d) {
    const g = d && d.guarantee;
    guarantee.hidden = !g || d.status === 'undeployed';
    if (guarantee.hidden) return;
    const parts = ['Guarantee: ' + g];
    if (d.guarantee_note) parts.push(d.guarantee_note);
    const ck = d.checkpoint;
    if (ck) {
      parts.push(ck.last_complete
          ? `checkpoint ${ck.last_complete} at ${ck.last_completed_at}`
          : 'no checkpoint complete yet');
      if (ck.in_flight) parts.push(`${ck.in_flight} in flight`);
      parts.push(`epoch ${ck.epoch}`);
      if (ck.failed) parts.push(`${ck.failed} failed (last: ${ck.last_failure})`);
    }
    if (d.recovery && d.recovery.count)
      parts.push(`${d.recovery.count} recoveries, p99 ${d.recovery.p99_ms} ms`);
    guarantee.textContent = parts.join(' · ');
    guarantee.classList.toggle('warn', !!(ck && ck.failed));
    guarantee.dataset.guarantee = g;
  }
  showGuarantee(def);

  const el = h('article', {class: 'stream-card', dataset: {stream: name}},
               h('header', {},
                 h('h3', {class: 'stream-name', text: name}), badge, desc),
               guarantee,
               def.description ? h('p', {class: 'description', text: def.description})
                               : null,
               h('pre', {class: 'dsl', text: def.dslText || ''}),
               graph,
               h('div', {class: 'actions'}, deployBtn, undeployBtn,
                 h('span', {class: 'scale-group'}, labelSel, countIn, scaleBtn),
                 logsBtn, destroyBtn),
               msg, logs);

  let lastStates = '';
  let lastStatus = '';
  function update() {
    const st = live.state.streams.get(name) || def;
    const sk = st.status + '\n' + (st.statusDescription || '');
    if (sk !== lastStatus) {
      lastStatus = sk;
      replace(badge, statusBadge(st.status, st.statusDescription));
      desc.textContent = st.statusDescription || '';
    }
    const s = st.status || 'undeployed';
    const set = (b, v) => {
      if (b.disabled !== v) b.disabled = v;
    };
    set(deployBtn, s !== 'undeployed');
    set(undeployBtn, s === 'undeployed');
    set(scaleBtn, !(s === 'deployed' || s === 'partial' || s === 'degraded'));
    const states = labelStates(name);
    const key = JSON.stringify(states);
    if (key !== lastStates || !graph.firstChild) {
      lastStates = key;
      let svg;
      try {
        svg = draw(def.dslText || '', {roles, states});
      } catch (e) {
        svg = h('p', {class: 'error', text: 'cannot draw: ' + e.message});
      }
      replace(graph, svg);
    }
  }
  async function refresh() {
    if (gone) return;
    try {
      /* A status pushed on /events while this request was on its way is
       * newer than the answer: keep it, or a stale "deploying" could stay
       * on the card with no later change for flowd to push. */
      const seen = live.state.streams.get(name);
      const d = await get('/streams/definitions/' + enc(name));
      showGuarantee(d);
      if (live.state.streams.get(name) === seen)
        live.state.streams.set(name, {name, status: d.status,
                                      statusDescription: d.statusDescription});
      update();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) reload();
    }
  }
  update();
  return {el, update, refresh, dsl: def.dslText, description: def.description};
}

export function mount(root) {
  const search = h('input', {type: 'search', id: 'stream-search',
                             placeholder: 'filter by name or DSL'});
  const listEl = h('div', {class: 'stream-list', id: 'stream-list'},
                   empty('Loading streams…'));
  const err = h('p', {class: 'error', hidden: true});
  const cards = new Map();
  let defs = [];

  async function load() {
    try {
      defs = await all('/streams/definitions?size=1000');
      live.learnDefinitions(defs);
      err.hidden = true;
    } catch (e) {
      err.hidden = false;
      err.textContent = 'Could not load the streams: ' + e.message;
      return;
    }
    render();
  }

  /* Cards are kept across renders; only a changed definition is rebuilt. */
  function render() {
    const keep = new Map();
    for (const d of defs) {
      let c = cards.get(d.name);
      if (!c || c.dsl !== d.dslText || c.description !== d.description)
        c = card(d, load);
      else
        c.update();
      keep.set(d.name, c);
    }
    cards.clear();
    for (const [k, v] of keep) cards.set(k, v);
    const q = search.value.trim().toLowerCase();
    const shown = defs.filter((d) => !q || d.name.toLowerCase().includes(q) ||
                                     String(d.dslText || '').toLowerCase().includes(q));
    if (!shown.length) {
      replace(listEl, empty(defs.length ? 'No stream matches.' : 'No streams yet.'));
      return;
    }
    replace(listEl, shown.map((d) => cards.get(d.name).el));
  }

  search.addEventListener('input', render);
  root.append(h('h1', {text: 'Streams'}), createForm(load),
              h('div', {class: 'panel'},
                h('div', {class: 'row'}, h('h2', {text: 'Definitions'}), search),
                err, listEl));

  let tick = 0;
  const unsub = live.subscribe((kind) => {
    if (kind === 'status') {
      const names = [...live.state.streams.keys()];
      if (names.some((n) => !cards.has(n) && !defs.some((d) => d.name === n)) ||
          [...cards.keys()].some((n) => !live.state.streams.has(n))) {
        load();
        return;
      }
      for (const c of cards.values()) c.update();
    } else if (kind === 'rates' && ++tick % 2 === 0) {
      for (const c of cards.values()) c.update();
      /* Checkpoints move without a status change: read them again now
       * and then for the deployed streams. */
      if (tick % 10 === 0)
        for (const [n, c] of cards)
          if ((live.state.streams.get(n) || {}).status !== 'undeployed') c.refresh();
    }
  });
  load();
  return unsub;
}
