// The validator itself (node --test): a well-formed object passes, and
// each way of breaking it that the API server would refuse fails, so
// that a manifest test through it can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObjects, validateObject } from './validate.mjs';

function statefulSet() {
  const labels = { 'app.kubernetes.io/managed-by': 'flowd', 'flow/app': 'counter' };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 's-counter', namespace: 'default', labels },
    spec: {
      replicas: 2,
      serviceName: 's-counter',
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{
            name: 'app',
            image: 'flow:latest',
            args: ['--flow.input=@tcp://0.0.0.0:7000'],
            ports: [{ name: 'errors', containerPort: 7002 }],
            resources: { limits: { memory: '512Mi' }, requests: { cpu: '500m' } },
            readinessProbe: { tcpSocket: { port: 'errors' } },
            volumeMounts: [{ name: 'work', mountPath: '/var/lib/flow' }],
          }],
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: 'work' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      }],
    },
  };
}

const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's-counter' },
  spec: { clusterIP: 'None', ports: [{ name: 'input', port: 7000 }] } };
const all = new Set(['StatefulSet/s-counter', 'Service/s-counter']);

test('a well-formed StatefulSet and Service pass', async () => {
  assert.deepEqual(await validateObject(statefulSet(), all), []);
  assert.deepEqual(await validateObject(service, all), []);
});

const breakages = {
  'replicas as a string': (o) => { o.spec.replicas = '2'; },
  'no selector': (o) => { delete o.spec.selector; },
  'a container without a name': (o) => { delete o.spec.template.spec.containers[0].name; },
  'memory that is no quantity': (o) => {
    o.spec.template.spec.containers[0].resources.limits.memory = '512 MB';
  },
  'args that are not strings': (o) => { o.spec.template.spec.containers[0].args = [7000]; },
  'a name with capitals': (o) => { o.metadata.name = 'S-Counter'; },
  'a label value with a space': (o) => { o.metadata.labels['flow/app'] = 'a b'; },
  'a selector that misses its pods': (o) => {
    o.spec.template.metadata.labels = { 'flow/app': 'other' };
  },
  'a probe of a port it does not name': (o) => {
    o.spec.template.spec.containers[0].readinessProbe.tcpSocket.port = 'input';
  },
  'a port name over 15 characters': (o) => {
    o.spec.template.spec.containers[0].ports[0].name = 'errors-and-more-x';
  },
  'a mount of no volume': (o) => { o.spec.volumeClaimTemplates = []; },
  'a serviceName of no Service': (o) => { o.spec.serviceName = 'nothing'; },
  'a Secret that is not among the objects': (o) => {
    o.spec.template.spec.volumes = [{ name: 'keys', secret: { secretName: 'gone' } }];
  },
  'a ServiceAccount that is not among the objects': (o) => {
    o.spec.template.spec.serviceAccountName = 'nobody';
  },
};

for (const [what, breakIt] of Object.entries(breakages)) {
  test(`refused: ${what}`, async () => {
    const o = statefulSet();
    breakIt(o);
    const errors = await validateObject(o, all);
    assert.ok(errors.length > 0, `accepted ${what}`);
  });
}

test('an unknown kind is refused', async () => {
  const errors = await validateObject({ apiVersion: 'v1', kind: 'Podd', metadata: { name: 'x' } });
  assert.match(errors[0], /no kind 'Podd'/);
});

test('files: a JSON array, a v1 List and YAML documents', () => {
  assert.equal(parseObjects(JSON.stringify([service, service]), 'a').length, 2);
  assert.equal(parseObjects(JSON.stringify({ apiVersion: 'v1', kind: 'List',
    items: [service] }), 'b').length, 1);
  assert.equal(parseObjects('---\nkind: A\n---\nkind: B\n', 'c').length, 2);
});
