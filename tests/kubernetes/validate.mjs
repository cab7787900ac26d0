// Validates Kubernetes objects against the Kubernetes API schema with
// kubernetes-models (each object's class: new Deployment(obj).validate()),
// plus what the schema leaves out and the API server checks: object
// names, label keys and values, port names, selectors that match their
// pod template, and references between the objects (a StatefulSet's
// Service, a volume's Secret or claim, a pod's ServiceAccount, a
// RoleBinding's Role, a probe's named port).
//
//   node validate.mjs [--expect-invalid] FILE...
//
// A FILE is JSON (an object, an array of objects, or a v1 List) or YAML
// (documents separated by ---); the objects of all the FILEs given may
// refer to one another. Prints one line per object and exits 0
// when every object is valid; with --expect-invalid it exits 0 only when
// every FILE holds at least one invalid object (the test that the
// validation can fail). Exit 2 on a usage or read error.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

// apiVersion -> the kubernetes-models module with its kinds.
const modules = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
};

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const labelName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const portName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkLabelKey(key, where, errors) {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== null && (prefix.length > 253 || !dns1123Subdomain.test(prefix)))
    errors.push(`${where}: label key '${key}' has an invalid prefix`);
  if (name.length > 63 || !labelName.test(name))
    errors.push(`${where}: label key '${key}' has an invalid name`);
}

function checkLabels(labels, where, errors) {
  for (const [k, v] of Object.entries(labels ?? {})) {
    checkLabelKey(k, where, errors);
    if (typeof v !== 'string' || v.length > 63 || !labelValue.test(v))
      errors.push(`${where}: label ${k}='${v}' is not a valid label value`);
  }
}

function checkName(obj, errors) {
  const name = obj.metadata?.name;
  if (typeof name !== 'string') {
    errors.push('metadata.name is missing');
    return;
  }
  // Services and namespaces are DNS-1035 / DNS-1123 labels; most others
  // DNS-1123 subdomains; a StatefulSet leaves room for its pods' names
  // and the controller-revision-hash label.
  if (obj.kind === 'Service' && (name.length > 63 || !dns1035Label.test(name)))
    errors.push(`Service name '${name}' is not a DNS-1035 label`);
  else if (name.length > 253 || !dns1123Subdomain.test(name))
    errors.push(`name '${name}' is not a DNS-1123 subdomain`);
  if (obj.kind === 'StatefulSet' && name.length > 52)
    errors.push(`StatefulSet name '${name}' is longer than 52 characters`);
  const ns = obj.metadata?.namespace;
  if (ns !== undefined && (ns.length > 63 || !dns1123Label.test(ns)))
    errors.push(`namespace '${ns}' is not a DNS-1123 label`);
  checkLabels(obj.metadata?.labels, 'metadata.labels', errors);
}

function checkPodSpec(spec, where, byKey, errors) {
  const names = new Set();
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  for (const c of containers) {
    if (names.has(c.name)) errors.push(`${where}: two containers named '${c.name}'`);
    names.add(c.name);
    if (!dns1123Label.test(c.name ?? ''))
      errors.push(`${where}: container name '${c.name}' is not a DNS-1123 label`);
    const ports = new Set();
    for (const p of c.ports ?? []) {
      if (p.name !== undefined) {
        if (p.name.length > 15 || !portName.test(p.name) || !/[a-z]/.test(p.name))
          errors.push(`${where}: port name '${p.name}' is not an IANA service name`);
        ports.add(p.name);
      }
    }
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
      const port = probe?.tcpSocket?.port ?? probe?.httpGet?.port;
      if (typeof port === 'string' && !ports.has(port))
        errors.push(`${where}: container '${c.name}' probes port '${port}' it does not name`);
    }
    const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
    for (const t of byKey.claimTemplates ?? []) volumes.add(t);
    for (const m of c.volumeMounts ?? [])
      if (!volumes.has(m.name))
        errors.push(`${where}: container '${c.name}' mounts unknown volume '${m.name}'`);
  }
  const refs = [];
  for (const v of spec.volumes ?? []) {
    if (v.secret?.secretName) refs.push(['Secret', v.secret.secretName, `volume '${v.name}'`]);
    if (v.persistentVolumeClaim?.claimName)
      refs.push(['PersistentVolumeClaim', v.persistentVolumeClaim.claimName, `volume '${v.name}'`]);
  }
  if (spec.serviceAccountName) refs.push(['ServiceAccount', spec.serviceAccountName, 'serviceAccountName']);
  for (const [kind, name, what] of refs)
    if (byKey.all && !byKey.all.has(`${kind}/${name}`))
      errors.push(`${where}: ${what} names ${kind} '${name}', which is not among the objects`);
}

function checkWorkload(obj, all, errors) {
  const spec = obj.spec ?? {};
  const sel = spec.selector?.matchLabels ?? {};
  const labels = spec.template?.metadata?.labels ?? {};
  checkLabels(labels, 'spec.template.metadata.labels', errors);
  for (const [k, v] of Object.entries(sel))
    if (labels[k] !== v)
      errors.push(`spec.selector ${k}=${v} does not match the pod template's labels`);
  const claimTemplates = (spec.volumeClaimTemplates ?? []).map((t) => t.metadata?.name);
  if (obj.kind === 'StatefulSet' && all && !all.has(`Service/${spec.serviceName}`))
    errors.push(`serviceName '${spec.serviceName}' is not a Service among the objects`);
  checkPodSpec(spec.template?.spec ?? {}, 'spec.template.spec', { all, claimTemplates }, errors);
}

function checkService(obj, errors) {
  for (const p of obj.spec?.ports ?? [])
    if (p.name !== undefined && (p.name.length > 15 || !portName.test(p.name)))
      errors.push(`Service port name '${p.name}' is not valid`);
  checkLabels(obj.spec?.selector, 'spec.selector', errors);
}

// The errors of one object (empty when it is valid); all: the set of
// "Kind/name" of the objects it may refer to, or null.
export async function validateObject(obj, all = null) {
  const errors = [];
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return ['not an object'];
  const path = modules[obj.apiVersion];
  if (!path) return [`apiVersion '${obj.apiVersion}' is not one this test knows`];
  const mod = await import(path);
  const Kind = mod[obj.kind];
  if (typeof Kind !== 'function') return [`no kind '${obj.kind}' in ${obj.apiVersion}`];
  try {
    new Kind(obj).validate();
  } catch (e) {
    errors.push(String(e.message ?? e));
  }
  checkName(obj, errors);
  if (obj.kind === 'Deployment' || obj.kind === 'StatefulSet') checkWorkload(obj, all, errors);
  if (obj.kind === 'Service') checkService(obj, errors);
  if (obj.kind === 'RoleBinding' && all && !all.has(`${obj.roleRef?.kind}/${obj.roleRef?.name}`))
    errors.push(`roleRef ${obj.roleRef?.kind}/${obj.roleRef?.name} is not among the objects`);
  return errors;
}

// The objects of a file's text.
export function parseObjects(text, file) {
  const t = text.trimStart();
  let docs;
  if (t.startsWith('{') || t.startsWith('[')) {
    docs = [JSON.parse(text)];
  } else {
    docs = parseAllDocuments(text).map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS();
    });
  }
  const out = [];
  for (const d of docs) {
    if (d === null || d === undefined) continue;
    if (Array.isArray(d)) out.push(...d);
    else if (d.kind === 'List' && Array.isArray(d.items)) out.push(...d.items);
    else out.push(d);
  }
  return out;
}

async function main(argv) {
  const expectInvalid = argv[0] === '--expect-invalid';
  const files = expectInvalid ? argv.slice(1) : argv;
  if (files.length === 0) {
    console.error('usage: node validate.mjs [--expect-invalid] FILE...');
    return 2;
  }
  let bad = 0;
  let filesWithInvalid = 0;
  // The objects of every file given may refer to one another (a
  // directory applied as one, such as packaging/kubernetes/).
  const byFile = new Map();
  for (const file of files) {
    try {
      byFile.set(file, parseObjects(readFileSync(file, 'utf8'), file));
    } catch (e) {
      console.error(`${file}: cannot read: ${e.message}`);
      return 2;
    }
    if (byFile.get(file).length === 0) {
      console.error(`${file}: no objects`);
      return 2;
    }
  }
  const all = new Set([...byFile.values()].flat().map((o) => `${o?.kind}/${o?.metadata?.name}`));
  for (const [file, objs] of byFile) {
    let invalid = 0;
    for (const o of objs) {
      const errors = await validateObject(o, all);
      const id = `${file}: ${o?.kind}/${o?.metadata?.name}`;
      if (errors.length) {
        invalid++;
        console.log(`not ok ${id}\n  ${errors.join('\n  ')}`);
      } else {
        console.log(`ok ${id}`);
      }
    }
    bad += invalid;
    if (invalid) filesWithInvalid++;
  }
  if (expectInvalid) {
    if (filesWithInvalid === files.length) return 0;
    console.error('an invalid object was accepted');
    return 1;
  }
  return bad ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`)
  process.exitCode = await main(process.argv.slice(2));
