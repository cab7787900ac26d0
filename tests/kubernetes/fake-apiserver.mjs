// A test API server that answers as the Kubernetes API does for what
// flowd's kubernetes deployer uses: server-side apply (PATCH with
// application/apply-patch+yaml), create, get, list, watch (with
// resourceVersion, 410 Gone after a compaction), the scale subresource,
// delete, pod logs, and Status objects for errors. Every request body is
// checked against the Kubernetes schema with kubernetes-models; what does
// not validate is answered 422 and recorded as a violation. It simulates
// the pods of Deployments and StatefulSets (Ready a moment after they are
// made), and has control endpoints under /_control/ for the test: make a
// pod crash-loop, delete a node's pods, compact the watch history, list
// the requests and the violations.
//
// Usage: node fake-apiserver.mjs --cert=FILE --key=FILE --token=TOKEN
// [--port=N]. Prints "listening PORT" on its first line of stdout and runs
// until SIGTERM.
import fs from "node:fs";
import https from "node:https";
import crypto from "node:crypto";

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (!m) {
      console.error(`fake-apiserver: unexpected argument '${a}'`);
      process.exit(2);
    }
    return [m[1], m[2]];
  }),
);
const TOKEN = args.token;
const READY_MS = Number(args["ready-ms"] || 300);
const NODES = ["node-a", "node-b"];

// The resources flowd uses: plural -> [group/version, kind, namespaced].
const RESOURCES = {
  "v1/pods": "Pod",
  "v1/services": "Service",
  "v1/secrets": "Secret",
  "v1/configmaps": "ConfigMap",
  "v1/persistentvolumeclaims": "PersistentVolumeClaim",
  "v1/serviceaccounts": "ServiceAccount",
  "apps/v1/deployments": "Deployment",
  "apps/v1/statefulsets": "StatefulSet",
  "policy/v1/poddisruptionbudgets": "PodDisruptionBudget",
  "networking.k8s.io/v1/networkpolicies": "NetworkPolicy",
};

const objects = new Map(); // "gv/plural/ns/name" -> object
const history = []; // watch events: {rv, gvp, ns, type, object}
let rv = 1000;
let compactedTo = 0; // events at or below this rv are gone
const requests = [];
const violations = [];
const watches = new Set();
const logs = new Map(); // pod key -> text

function status(res, code, reason, message, details) {
  const body = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  };
  if (details) body.details = details;
  res.writeHead(code, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

function send(res, code, obj) {
  res.writeHead(code, { "Content-Type": "application/json" });
  res.end(JSON.stringify(obj));
}

const modelCache = new Map();
async function model(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!modelCache.has(key)) {
    try {
      const mod = await import(`kubernetes-models/${apiVersion}`);
      modelCache.set(key, mod[kind] || null);
    } catch {
      modelCache.set(key, null);
    }
  }
  return modelCache.get(key);
}

// Checks obj against the schema of its kind: an error message, or null.
async function validate(obj, gv, kind) {
  if (obj.apiVersion !== gv) return `apiVersion is '${obj.apiVersion}', the URL says '${gv}'`;
  if (obj.kind !== kind) return `kind is '${obj.kind}', the URL says '${kind}'`;
  const M = await model(gv, kind);
  if (!M) return `no schema for ${gv} ${kind}`;
  try {
    new M(obj).validate();
  } catch (e) {
    return e.message;
  }
  return null;
}

function selectorMatches(sel, labels) {
  if (!sel) return true;
  labels = labels || {};
  return sel.split(",").every((term) => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
    if (!m) return labels[term] !== undefined;
    const v = labels[m[1]];
    return m[2] === "!=" ? v !== m[3] : v === m[3];
  });
}

function emit(gvp, ns, type, object) {
  rv += 1;
  object.metadata.resourceVersion = String(rv);
  const ev = { rv, gvp, ns, type, object: structuredClone(object) };
  history.push(ev);
  for (const w of watches) w.offer(ev);
}

function put(gvp, ns, obj, type) {
  objects.set(`${gvp}/${ns}/${obj.metadata.name}`, obj);
  emit(gvp, ns, type, obj);
}

function remove(gvp, ns, name) {
  const key = `${gvp}/${ns}/${name}`;
  const obj = objects.get(key);
  if (!obj) return null;
  objects.delete(key);
  emit(gvp, ns, "DELETED", obj);
  if (gvp === "apps/v1/deployments" || gvp === "apps/v1/statefulsets")
    for (const p of podsOf(ns, obj)) remove("v1/pods", ns, p.metadata.name);
  return obj;
}

function podsOf(ns, owner) {
  const out = [];
  for (const [k, o] of objects)
    if (k.startsWith(`v1/pods/${ns}/`) && o.metadata.ownerReferences?.[0]?.uid === owner.metadata.uid)
      out.push(o);
  return out;
}

// Pods follow their Deployments and StatefulSets: as many as the
// replicas, Pending at first and Running and Ready READY_MS later.
function reconcile() {
  for (const [k, o] of [...objects]) {
    const [g, v, plural, ns] = k.split("/").length === 5 ? k.split("/") : [null];
    if (!g || (plural !== "deployments" && plural !== "statefulsets")) continue;
    const want = o.spec.replicas ?? 1;
    const pods = podsOf(ns, o);
    const sts = plural === "statefulsets";
    for (let i = 0; pods.length < want && i < 1000; i++) {
      const name = sts ? `${o.metadata.name}-${i}` : `${o.metadata.name}-${crypto.randomBytes(3).toString("hex")}`;
      if (objects.has(`v1/pods/${ns}/${name}`)) continue;
      const n = (Number(/-(\d+)$/.exec(name)?.[1]) || pods.length) % NODES.length;
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name,
          namespace: ns,
          uid: crypto.randomUUID(),
          labels: { ...(o.spec.template.metadata?.labels || {}) },
          ownerReferences: [{ apiVersion: `${g}/${v}`, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller: true }],
          creationTimestamp: new Date().toISOString(),
        },
        spec: { ...structuredClone(o.spec.template.spec), nodeName: NODES[n] },
        status: { phase: "Pending", conditions: [{ type: "Ready", status: "False" }] },
      };
      if (sts) pod.metadata.labels["statefulset.kubernetes.io/pod-name"] = name;
      pods.push(pod);
      put("v1/pods", ns, pod, "ADDED");
      logs.set(`${ns}/${name}`, `${name}: started on ${NODES[n]}\n`);
      setTimeout(() => {
        const p = objects.get(`v1/pods/${ns}/${name}`);
        if (!p || p.metadata.uid !== pod.metadata.uid || p.status.crashing) return;
        p.status = {
          phase: "Running",
          conditions: [{ type: "Ready", status: "True" }],
          containerStatuses: (p.spec.containers || []).map((c) => ({
            name: c.name, ready: true, restartCount: 0, image: c.image, imageID: "", state: { running: {} },
          })),
        };
        put("v1/pods", ns, p, "MODIFIED");
      }, READY_MS);
    }
    const extra = pods.sort((a, b) => b.metadata.name.localeCompare(a.metadata.name, "en", { numeric: true }));
    while (extra.length > want) remove("v1/pods", ns, extra.shift().metadata.name);
    o.status = { replicas: want, readyReplicas: podsOf(ns, o).filter((p) => p.status.phase === "Running").length };
  }
}
setInterval(reconcile, 100);

// Parses the URL into the resource it names, or null.
function route(path) {
  let m = /^\/api\/v1\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(path);
  let gv = "v1";
  if (!m) {
    m = /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(path);
    if (!m) return null;
    gv = `${m[1]}/${m[2]}`;
    m = [m[0], m[3], m[4], m[5], m[6]];
  }
  const gvp = `${gv}/${m[2]}`;
  const kind = RESOURCES[gvp];
  if (!kind) return null;
  return { gv, gvp, kind, ns: m[1], plural: m[2], name: m[3] ? decodeURIComponent(m[3]) : null, sub: m[4] || null };
}

function list(r, sel) {
  const items = [];
  for (const [k, o] of objects)
    if (k.startsWith(`${r.gvp}/${r.ns}/`) && selectorMatches(sel, o.metadata.labels)) items.push(o);
  return { kind: `${r.kind}List`, apiVersion: r.gv, metadata: { resourceVersion: String(rv) }, items };
}

function watch(req, res, r, q) {
  const sel = q.get("labelSelector");
  const from = Number(q.get("resourceVersion") || 0);
  res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
  const w = {
    offer(ev) {
      if (ev.gvp === r.gvp && ev.ns === r.ns && selectorMatches(sel, ev.object.metadata.labels))
        res.write(JSON.stringify({ type: ev.type, object: ev.object }) + "\n");
    },
    end() {
      watches.delete(w);
      res.end();
    },
  };
  if (from && from < compactedTo) {
    res.end(JSON.stringify({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `too old resource version: ${from} (${compactedTo})`, reason: "Expired", code: 410 } }) + "\n");
    return;
  }
  if (from) {
    for (const ev of history) if (ev.rv > from) w.offer(ev);
  } else {
    for (const o of list(r, sel).items) res.write(JSON.stringify({ type: "ADDED", object: o }) + "\n");
  }
  watches.add(w);
  req.on("close", () => watches.delete(w));
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

async function control(req, res, path, body) {
  const q = body ? JSON.parse(body) : {};
  if (path === "/_control/requests") return send(res, 200, requests);
  if (path === "/_control/violations") return send(res, 200, violations);
  if (path === "/_control/objects")
    return send(res, 200, [...objects.values()].map((o) => ({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace, labels: o.metadata.labels || {}, spec: o.spec, data: o.data })));
  if (path === "/_control/crashloop") {
    // Body: {namespace, pod}: the pod's container crash-loops from now on.
    const p = objects.get(`v1/pods/${q.namespace}/${q.pod}`);
    if (!p) return status(res, 404, "NotFound", `pods "${q.pod}" not found`);
    p.status = {
      phase: "Running",
      crashing: true,
      conditions: [{ type: "Ready", status: "False", reason: "ContainersNotReady" }],
      containerStatuses: (p.spec.containers || []).map((c) => ({
        name: c.name, ready: false, restartCount: 6, image: c.image, imageID: "",
        state: { waiting: { reason: "CrashLoopBackOff", message: `back-off 5m0s restarting failed container=${c.name} pod=${q.pod}` } },
        lastState: { terminated: { exitCode: 1, reason: "Error" } },
      })),
    };
    put("v1/pods", q.namespace, p, "MODIFIED");
    return send(res, 200, { ok: true });
  }
  if (path === "/_control/delete-node-pods") {
    // Body: {node}: every pod on the node is deleted (a node drained or lost).
    const gone = [];
    for (const [k, o] of [...objects])
      if (k.startsWith("v1/pods/") && o.spec.nodeName === q.node) {
        remove("v1/pods", o.metadata.namespace, o.metadata.name);
        gone.push(o.metadata.name);
      }
    return send(res, 200, { deleted: gone });
  }
  if (path === "/_control/compact") {
    // Forgets the watch history and ends every watch, as an etcd
    // compaction and a watch timeout do: a watch resumed from an older
    // resourceVersion is answered 410 Gone.
    compactedTo = rv + 1;
    history.length = 0;
    for (const w of [...watches]) w.end();
    return send(res, 200, { compactedTo });
  }
  if (path === "/_control/create") {
    // Body: an object to create as another client would (an unrelated one).
    const gvp = `${q.apiVersion}/${q.kind.toLowerCase()}s`;
    q.metadata.uid = crypto.randomUUID();
    put(gvp, q.metadata.namespace, q, "ADDED");
    return send(res, 201, q);
  }
  return status(res, 404, "NotFound", `no control endpoint ${path}`);
}

async function handle(req, res) {
  const url = new URL(req.url, "https://localhost");
  const body = await readBody(req);
  if (req.headers.authorization !== `Bearer ${TOKEN}`)
    return status(res, 401, "Unauthorized", "Unauthorized");
  if (url.pathname.startsWith("/_control/")) return control(req, res, url.pathname, body);
  const ctype = (req.headers["content-type"] || "").split(";")[0];
  requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), contentType: ctype });
  const r = route(url.pathname);
  if (!r) return status(res, 404, "NotFound", `the server could not find the requested resource (${req.method} ${url.pathname})`);
  const key = r.name ? `${r.gvp}/${r.ns}/${r.name}` : null;
  const cur = key ? objects.get(key) : null;
  const q = url.searchParams;
  const violation = (msg) => {
    violations.push({ method: req.method, path: url.pathname, message: msg });
    return status(res, 422, "Invalid", `${r.kind} "${r.name}" is invalid: ${msg}`, { name: r.name, kind: r.plural });
  };

  if (req.method === "GET" && !r.name) {
    if (q.get("watch") === "1" || q.get("watch") === "true") return watch(req, res, r, q);
    return send(res, 200, list(r, q.get("labelSelector")));
  }
  if (req.method === "GET" && r.sub === "log") {
    if (r.plural !== "pods" || !cur) return status(res, 404, "NotFound", `pods "${r.name}" not found`);
    let text = logs.get(`${r.ns}/${r.name}`) || "";
    const tail = Number(q.get("limitBytes") || 0);
    if (tail && text.length > tail) text = text.slice(0, tail);
    res.writeHead(200, { "Content-Type": "text/plain" });
    return res.end(text);
  }
  if (r.sub === "scale") {
    if (r.plural !== "deployments" && r.plural !== "statefulsets") return status(res, 404, "NotFound", "no scale subresource");
    if (!cur) return status(res, 404, "NotFound", `${r.plural}.apps "${r.name}" not found`);
    if (req.method === "PATCH") {
      if (ctype !== "application/merge-patch+json" && ctype !== "application/strategic-merge-patch+json")
        return status(res, 415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json`);
      let p;
      try {
        p = JSON.parse(body);
      } catch (e) {
        return violation(`the body is not JSON: ${e.message}`);
      }
      const scale = { apiVersion: "autoscaling/v1", kind: "Scale", metadata: { name: r.name, namespace: r.ns }, spec: { replicas: p?.spec?.replicas } };
      const bad = Object.keys(p).some((k) => k !== "spec") || Object.keys(p.spec || {}).some((k) => k !== "replicas");
      const err = bad ? "a scale patch sets spec.replicas only" : await validate(scale, "autoscaling/v1", "Scale");
      if (err) return violation(err);
      cur.spec.replicas = p.spec.replicas;
      put(r.gvp, r.ns, cur, "MODIFIED");
    } else if (req.method !== "GET") return status(res, 405, "MethodNotAllowed", `${req.method} is not allowed on scale`);
    return send(res, 200, { apiVersion: "autoscaling/v1", kind: "Scale", metadata: { name: r.name, namespace: r.ns, resourceVersion: cur.metadata.resourceVersion }, spec: { replicas: cur.spec.replicas ?? 1 }, status: { replicas: cur.status?.replicas ?? 0 } });
  }
  if (r.sub) return status(res, 404, "NotFound", `no subresource ${r.sub}`);
  if (req.method === "GET") {
    if (!cur) return status(res, 404, "NotFound", `${r.plural} "${r.name}" not found`, { name: r.name, kind: r.plural });
    return send(res, 200, cur);
  }
  if (req.method === "DELETE") {
    const gone = remove(r.gvp, r.ns, r.name);
    if (!gone) return status(res, 404, "NotFound", `${r.plural} "${r.name}" not found`, { name: r.name, kind: r.plural });
    return send(res, 200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name: r.name, kind: r.plural, uid: gone.metadata.uid } });
  }
  if (req.method === "POST" || req.method === "PATCH") {
    if (req.method === "PATCH" && ctype !== "application/apply-patch+yaml")
      return status(res, 415, "UnsupportedMediaType", `the test API server takes server-side apply (application/apply-patch+yaml) only, not '${ctype}'`);
    if (req.method === "PATCH" && !q.get("fieldManager"))
      return status(res, 400, "BadRequest", "PATCH, application/apply-patch+yaml requires fieldManager to be set");
    let obj;
    try {
      obj = JSON.parse(body); // The client sends JSON, which is YAML too.
    } catch (e) {
      return violation(`the body is not JSON: ${e.message}`);
    }
    const name = req.method === "POST" ? obj?.metadata?.name : r.name;
    if (req.method === "POST" && r.name) return status(res, 405, "MethodNotAllowed", "POST to a named object");
    if (obj?.metadata?.name !== name) return violation(`metadata.name '${obj?.metadata?.name}' is not '${name}' of the URL`);
    if (obj.metadata.namespace && obj.metadata.namespace !== r.ns) return status(res, 400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
    const err = await validate(obj, r.gv, r.kind);
    if (err) return violation(err);
    const k = `${r.gvp}/${r.ns}/${name}`;
    const old = objects.get(k);
    if (req.method === "POST" && old) return status(res, 409, "AlreadyExists", `${r.plural} "${name}" already exists`, { name, kind: r.plural });
    obj.metadata.namespace = r.ns;
    obj.metadata.uid = old ? old.metadata.uid : crypto.randomUUID();
    obj.metadata.creationTimestamp = old ? old.metadata.creationTimestamp : new Date().toISOString();
    if (old?.status) obj.status = old.status;
    put(r.gvp, r.ns, obj, old ? "MODIFIED" : "ADDED");
    if (old && (r.plural === "deployments" || r.plural === "statefulsets")) reconcile();
    return send(res, old ? 200 : 201, obj);
  }
  return status(res, 405, "MethodNotAllowed", `${req.method} is not allowed`);
}

const server = https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) }, (req, res) => {
  handle(req, res).catch((e) => {
    violations.push({ method: req.method, path: req.url, message: `server error: ${e.stack}` });
    status(res, 500, "InternalError", String(e));
  });
});
server.listen(Number(args.port || 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
process.on("SIGTERM", () => process.exit(0));
