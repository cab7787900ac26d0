/*
 * The dashboard's pure helpers, without a browser: how a definition is
 * split into the nodes of its graph, and how flowd's byte offsets map to
 * positions in the text box.
 */

import {test} from 'node:test';
import assert from 'node:assert/strict';
import {parse} from '../../dashboard/js/graph.js';
import {byteToIndex} from '../../dashboard/js/pages/streams.js';

const shape = (dsl) => parse(dsl).nodes.map((n) => `${n.kind}:${n.label}`);

test('a pipeline is its apps in order', () => {
  assert.deepEqual(shape('load-sim --rate=5 | account-events | counter --name=x'),
                   ['app:load-sim', 'app:account-events', 'app:counter']);
  assert.deepEqual(parse('counter --name=x --y=2').nodes[0].options, ['--name=x', '--y=2']);
});

test('a stream name before = is not an app', () => {
  const p = parse('accounts = load-sim | counter');
  assert.equal(p.name, 'accounts');
  assert.deepEqual(shape('accounts = load-sim | counter'), ['app:load-sim', 'app:counter']);
});

test('named destinations and taps', () => {
  assert.deepEqual(shape(':accounts > counter'), ['dest:accounts', 'app:counter']);
  assert.deepEqual(shape('load-sim > :accounts'), ['app:load-sim', 'dest:accounts']);
  assert.deepEqual(shape(':accounts.load-sim > field-value-counter --field-name=type'),
                   ['tap:accounts.load-sim', 'app:field-value-counter']);
  assert.deepEqual(shape(':in > transform | log > :out'),
                   ['dest:in', 'app:transform', 'app:log', 'dest:out']);
  assert.deepEqual(shape(':a > :b'), ['dest:a', 'app:bridge', 'dest:b']);
});

test('labels name apps; quoted | and > stay inside a value', () => {
  assert.deepEqual(shape('src: time | t: transform --expression="a|b>c" | log'),
                   ['app:src', 'app:t', 'app:log']);
  assert.deepEqual(parse("log --name='x > y | z'").nodes[0].options, ["--name='x > y | z'"]);
});

test('byte offsets become string positions', () => {
  assert.equal(byteToIndex('load-sim | cuonter', 11), 11);
  /* "é" is two bytes in UTF-8, one position in the string. */
  assert.equal(byteToIndex('log --n=é | cuonter', 13), 12);
  /* "😀" is four bytes and two UTF-16 code units. */
  assert.equal(byteToIndex('😀 x', 5), 3);
  assert.equal(byteToIndex('abc', 99), 3);
});
