/*
 * Apps: the registry, grouped by type, with each app's options from its
 * --describe (read from /apps/{type}/{name}).
 */

import {all, get, enc} from '../api.js';
import {h, replace, empty} from '../dom.js';

function optionsTable(options) {
  if (!options || !options.length) return empty('No options.');
  return h('table', {class: 'grid options'},
           h('thead', {}, h('tr', {}, ['Option', 'Type', 'Default', 'Required',
                                       'Description'].map((t) => h('th', {text: t})))),
           h('tbody', {}, options.map((o) => h('tr', {},
               h('td', {}, h('code', {text: '--' + o.name})),
               h('td', {text: o.type === 'enum' && Array.isArray(o.values)
                                  ? 'enum: ' + o.values.join(' | ') : (o.type || '')}),
               h('td', {}, o.default === null || o.default === undefined ? ''
                                                                         : h('code', {text: String(o.default)})),
               h('td', {text: o.required ? 'yes' : ''}),
               h('td', {text: o.description || ''})))));
}

export function mount(root) {
  const box = h('div', {id: 'app-list'}, empty('Loading the registry…'));
  root.append(h('h1', {text: 'Apps'}), box);
  let alive = true;
  (async () => {
    let apps;
    try {
      apps = await all('/apps?size=1000');
    } catch (e) {
      replace(box, h('p', {class: 'error', text: 'Could not load the registry: ' + e.message}));
      return;
    }
    if (!alive) return;
    if (!apps.length) {
      replace(box, empty('The registry is empty.'));
      return;
    }
    replace(box);
    for (const type of ['source', 'processor', 'sink']) {
      const group = apps.filter((a) => a.type === type);
      if (!group.length) continue;
      const panel = h('div', {class: 'panel'}, h('h2', {text: type + 's'}));
      box.append(panel);
      for (const a of group) {
        const opts = h('div', {class: 'app-options'}, empty('Loading options…'));
        panel.append(h('details', {class: 'app', open: true, dataset: {app: a.name}},
                       h('summary', {},
                         h('b', {text: a.name}), ' ',
                         h('span', {class: 'hint', text: a.description || ''}),
                         a.builtin ? h('span', {class: 'tag', text: 'built-in'}) : null),
                       h('p', {class: 'uri'}, h('code', {text: a.uri || ''})),
                       opts));
        get(`/apps/${enc(a.type)}/${enc(a.name)}`)
            .then((d) => replace(opts, optionsTable(d.options)))
            .catch((e) => replace(opts, h('p', {class: 'error',
                                                text: 'Could not read the options: ' + e.message})));
      }
    }
    const other = apps.filter((a) => !['source', 'processor', 'sink'].includes(a.type));
    if (other.length)
      box.append(h('div', {class: 'panel'}, h('h2', {text: 'other'}),
                    other.map((a) => h('p', {text: `${a.type}/${a.name}`}))));
  })();
  return () => {
    alive = false;
  };
}
