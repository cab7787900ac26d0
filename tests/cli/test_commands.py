"""flowctl against a real flowd: every command in human and JSON form, the
exit code of each failure class, server and token precedence, colours,
apply idempotence, logs, counters and tap.

usage: test_commands.py FLOWCTL FLOWD [unittest args]
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowtest  # noqa: E402
from flowtest import Flowd, wait_for  # noqa: E402


def one_json(test, out):
    """stdout must be exactly one JSON document."""
    try:
        return json.loads(out)
    except ValueError as e:
        test.fail("stdout is not one JSON document (%s): %r" % (e, out[:500]))


class Commands(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Flowd()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def ctl(self, *args, **kw):
        return self.srv.ctl(*args, **kw)

    def ok(self, *args, **kw):
        rc, out, err = self.ctl(*args, **kw)
        self.assertEqual(rc, 0, "flowctl %s failed (%d): %s%s" %
                         (" ".join(args), rc, out, err))
        return out

    def json_ok(self, *args, **kw):
        return one_json(self, self.ok("-o", "json", *args, **kw))

    def status_of(self, name):
        st, doc = self.srv.api("GET", "/streams/deployments/" + name)
        return doc.get("status") if st == 200 else None

    # -- help, version, usage --------------------------------------------

    def test_help_everywhere(self):
        out = self.ok("--help")
        self.assertIn("Commands:", out)
        self.assertIn("Exit codes", out)
        cmds = ["stream", "deploy", "undeploy", "status", "scale", "apply",
                "export", "logs", "apps", "app", "counters", "counter",
                "field-value-counter", "top", "tap", "shell", "completion",
                "version"]
        for c in cmds:
            self.assertIn(c, out)
            h = self.ok(c, "--help")
            self.assertIn("usage: flowctl " + c, h, c)
            self.assertIn("Example", h, c)
        for sub in (["stream", "create"], ["stream", "list"],
                    ["stream", "info"], ["stream", "destroy"],
                    ["app", "info"], ["app", "register"]):
            h = self.ok(*sub, "-h")
            self.assertIn("usage: flowctl " + " ".join(sub), h)
        self.assertEqual(self.ok("help", "deploy"), self.ok("deploy", "-h"))

    def test_version(self):
        out = self.ok("version")
        self.assertRegex(out, r"flowctl \d+\.\d+\.\d+")
        self.assertRegex(out, r"flowd \d+\.\d+\.\d+")
        doc = self.json_ok("version")
        self.assertIn("flowctl", doc["client"])
        self.assertIn("flowd", doc["server"]["versionInfo"])
        # --client needs no server.
        rc, out, _ = self.ctl("version", "--client",
                              FLOW_SERVER="http://127.0.0.1:%d" %
                              flowtest.free_port())
        self.assertEqual(rc, 0)
        self.assertIn("flowctl", out)

    def test_usage_errors_exit_2(self):
        for args in (["no-such-command"], ["stream"], ["stream", "create"],
                     ["stream", "create", "x"], ["stream", "frobnicate"],
                     ["-o", "yaml", "status"], ["--color=sometimes", "status"],
                     ["scale", "a", "b", "many"], ["scale", "a", "b", "0"],
                     ["deploy"], ["deploy", "x", "--bogus"],
                     ["deploy", "x", "--properties", "novalue"],
                     ["counter", "x", "--resolution", "fortnight"],
                     ["counter", "x", "--last", "soon"],
                     ["app", "register", "x", "--type", "sink", "--uri",
                      "relative/path"],
                     ["apply"], ["apply", "-f", "/nonexistent/file.flow"],
                     ["completion", "fish"], ["tap", "x", "-n", "zero"],
                     ["--timeout", "0", "status"]):
            rc, out, err = self.ctl(*args)
            self.assertEqual(rc, 2, "%s: rc %d, %s" % (args, rc, err))
            self.assertTrue(err.startswith("flowctl: ") or "usage" in err,
                            "%s: %r" % (args, err))
            self.assertEqual(out, "", args)
        rc, _, err = self.ctl("stram")
        self.assertIn("did you mean 'stream'", err)

    def test_unreachable_exit_3(self):
        url = "http://127.0.0.1:%d" % flowtest.free_port()
        for args in (["status"], ["stream", "list"], ["-o", "json", "apps"],
                     ["deploy", "x"], ["top"], ["version"], ["export"]):
            rc, out, err = self.ctl(*args, FLOW_SERVER=url)
            self.assertEqual(rc, 3, "%s: %d %s" % (args, rc, err))
            self.assertIn("cannot reach flowd at " + url, err)
            self.assertIn("flowd --data-dir", err)  # the hint
            if args[0] != "version":
                self.assertEqual(out, "", args)

    def test_not_found_exit_4(self):
        for args in (["stream", "info", "nope"], ["stream", "destroy", "nope"],
                     ["status", "nope"], ["deploy", "nope"],
                     ["undeploy", "nope"], ["logs", "nope"],
                     ["counter", "nope"], ["field-value-counter", "nope"],
                     ["app", "info", "nope"], ["top", "nope"],
                     ["scale", "nope", "app", "2"]):
            rc, out, err = self.ctl(*args)
            self.assertEqual(rc, 4, "%s: %d %s" % (args, rc, err))
            self.assertIn("nope", err)
            self.assertEqual(out, "")
            rc, out, err = self.ctl("-o", "json", *args)
            self.assertEqual(rc, 4, args)
            self.assertEqual(out, "", args)

    # -- streams ----------------------------------------------------------

    def test_stream_lifecycle(self):
        out = self.ok("stream", "create", "life", "time | log",
                      "--description", "a clock")
        self.assertIn("Created stream 'life'", out)
        out = self.ok("stream", "list")
        self.assertRegex(out, r"NAME\s+STATUS\s+DEFINITION")
        self.assertRegex(out, r"life\s+undeployed\s+time \| log")
        doc = self.json_ok("stream", "list")
        names = [s["name"] for s in
                 doc["_embedded"]["streamDefinitionResourceList"]]
        self.assertIn("life", names)
        doc = self.json_ok("stream", "list", "--search", "no-such-text")
        self.assertEqual(doc["_embedded"]["streamDefinitionResourceList"],
                         [])
        out = self.ok("stream", "info", "life")
        self.assertIn("Definition:  time | log", out)
        self.assertIn("Description: a clock", out)
        self.assertIn("undeployed", out)
        doc = self.json_ok("stream", "info", "life")
        self.assertEqual(doc["dslText"], "time | log")
        self.assertEqual(doc["deployment"]["status"], "undeployed")
        # A name in use: the conflict says what exists.
        rc, out, err = self.ctl("stream", "create", "life", "time | log")
        self.assertEqual(rc, 1)
        self.assertIn("existing: life = time | log", err)
        out = self.ok("stream", "destroy", "life")
        self.assertIn("Destroyed stream 'life'", out)
        rc, _, _ = self.ctl("stream", "info", "life")
        self.assertEqual(rc, 4)
        # JSON create and destroy print the server's resource.
        doc = self.json_ok("stream", "create", "life2", "time | log")
        self.assertEqual(doc["name"], "life2")
        doc = self.json_ok("stream", "destroy", "life2")
        self.assertEqual(doc["name"], "life2")

    def test_unquoted_definition_words_are_joined(self):
        self.ok("stream", "create", "words", "time", "--fixed-delay=2")
        st, doc = self.srv.api("GET", "/streams/definitions/words")
        self.assertEqual(doc["dslText"], "time --fixed-delay=2")
        self.ok("stream", "destroy", "words")

    def test_dsl_error_has_definition_and_caret(self):
        d = "time | lgo"
        rc, out, err = self.ctl("stream", "create", "bad", d)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        lines = err.splitlines()
        src = [i for i, l in enumerate(lines) if l.strip() == d]
        self.assertTrue(src, err)
        i = src[0]
        caret = lines[i + 1]
        self.assertEqual(caret.strip(), "^", err)
        self.assertEqual(caret.index("^"), lines[i].index("lgo"), err)
        self.assertIn("lgo", err)
        self.assertIn("1:8", err)
        rc, _, _ = self.ctl("stream", "info", "bad")
        self.assertEqual(rc, 4)

    # -- deployments ------------------------------------------------------

    def test_deploy_status_scale_undeploy(self):
        self.ok("stream", "create", "dep",
                "load-sim --rate=50 | account-events | log")
        rc, out, err = self.ctl("deploy", "dep", "--properties",
                                "deployer.log.count=1,app.load-sim.rate=20")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"Deployed stream 'dep' in [\d.]+ s: 3 apps")
        self.assertEqual(self.status_of("dep"), "deployed")
        out = self.ok("status", "dep")
        self.assertIn("dep: deployed", out)
        self.assertRegex(out, r"APP\s+TYPE\s+INSTANCE\s+STATE")
        self.assertRegex(out, r"account-events\s+processor\s+0\s+deployed")
        doc = self.json_ok("status", "dep")
        self.assertEqual(doc["status"], "deployed")
        self.assertEqual(doc["deploymentProperties"]["app.load-sim.rate"],
                         "20")
        out = self.ok("status")
        self.assertRegex(out, r"dep\s+deployed")
        doc = self.json_ok("status")
        self.assertIn("dep", [s["name"] for s in
                              doc["_embedded"]["streamDefinitionResourceList"]])
        out = self.ok("stream", "info", "dep")
        self.assertRegex(out, r"IN/S\s+OUT/S")
        self.assertIn("app.load-sim.rate=20", out)
        # Deploying again is a conflict, with a hint.
        rc, out, err = self.ctl("deploy", "dep")
        self.assertEqual(rc, 1)
        self.assertIn("flowctl undeploy dep", err)
        # Scale.
        out = self.ok("scale", "dep", "account-events", "2")
        self.assertIn("Scaled dep.account-events to 2 instances", out)
        # Under exactly-once (the default) the scale takes a checkpoint
        # first and restarts the region with the new count after the
        # answer (docs/flowd.md): the second instance comes shortly.
        deadline = time.monotonic() + 60
        while True:
            doc = self.json_ok("status", "dep")
            ae = [a for a in doc["apps"]
                  if a["label"] == "account-events"][0]
            if len(ae["instances"]) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(ae["instances"]), 2)
        doc = self.json_ok("scale", "dep", "account-events", "1")
        self.assertEqual(doc["name"], "dep")
        rc, _, err = self.ctl("scale", "dep", "no-such-app", "2")
        self.assertEqual(rc, 4, err)
        # Undeploy.
        out = self.ok("undeploy", "dep")
        self.assertIn("Undeployed stream 'dep'", out)
        self.assertEqual(self.status_of("dep"), "undeployed")
        doc = self.json_ok("undeploy", "dep")
        self.assertEqual(doc["status"], "undeployed")
        # JSON deploy from a properties file, --no-wait.
        with tempfile.NamedTemporaryFile("w", suffix=".properties",
                                         delete=False) as f:
            f.write("# instances\ndeployer.log.count = 2\n\n"
                    "app.load-sim.rate=10\n")
        try:
            doc = self.json_ok("deploy", "dep", "--properties-file", f.name)
            self.assertEqual(doc["status"], "deployed")
            self.assertEqual(doc["deploymentProperties"]["deployer.log.count"],
                             "2")
        finally:
            os.unlink(f.name)
        self.ok("undeploy", "dep")
        out = self.ok("deploy", "dep", "--no-wait")
        self.assertIn("Deploying stream 'dep'", out)
        wait_for(lambda: self.status_of("dep") == "deployed", what="deployed")
        self.ok("stream", "destroy", "dep")

    def test_one_name_rule(self):
        """flowctl validate refuses the stream name flowd refuses, with
        the message flowd gives, however the name reaches flowd."""
        msg = ("illegal stream name 'My_Stream': a name is a lowercase "
               "letter, then up to 47 lowercase letters, digits or '-' "
               "(like 'accounts' or 'eu-1')")
        rc, out, err = self.ctl("validate", "-e", "My_Stream = time | log")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("1:1: error: " + msg, out + err)
        doc = one_json(self, self.ctl("-o", "json", "validate", "-e",
                                      "My_Stream = time | log")[1])
        self.assertEqual(doc["errors"][0]["message"], msg)
        st, doc = self.srv.api("POST", "/streams/definitions",
                               {"definition": "My_Stream = time | log"})
        self.assertEqual(st, 400, doc)
        self.assertEqual(doc["errors"][0]["message"], msg)
        st, doc = self.srv.api("POST", "/streams/definitions",
                               {"name": "My_Stream",
                                "definition": "time | log"})
        self.assertEqual(st, 400, doc)
        self.assertEqual(doc["message"], msg)
        rc, out, err = self.ctl("stream", "create", "My_Stream", "time | log")
        self.assertNotEqual(rc, 0)
        self.assertIn(msg, err)
        rc, out, err = self.ctl("validate", "-e", "my-stream = time | log")
        self.assertEqual(rc, 0, out + err)

    def test_status_says_degraded_and_stale(self):
        """flowctl status shows a stream whose app fails every event as
        degraded with the reason and last error, and an instance stopped
        with SIGSTOP as stale."""
        self.ok("stream", "create", "rejects",
                "load-sim --rate=300 --illegal-ratio=1 | account-events "
                "| counter --name=rejects-load", "--deploy")
        # Without a guarantee: under exactly-once a stopped instance is not
        # left stale, its region is restarted from a checkpoint
        # (docs/flowd.md "Checkpoints and recovery").
        self.ok("stream", "create", "frozen", "time | log")
        self.ok("deploy", "frozen", "--properties", "flow.guarantee=none")
        pid = None
        try:
            wait_for(lambda: self.status_of("rejects") == "degraded",
                     what="rejects degraded")
            out = self.ok("status")
            self.assertRegex(out, r"rejects\s+degraded\s+app account-events "
                             r"failed \d+ of \d+ events in the last 10 s")
            out = self.ok("status", "rejects")
            self.assertRegex(out, r"^rejects: degraded \(app account-events "
                             r"failed \d+ of \d+ events in the last 10 s "
                             r"\(100%, over its 50% error threshold\); last "
                             r"error: rejected a ")
            self.assertRegex(out, r"rejects\.account-events-0: last error: "
                             r"rejected a \w+ event: ")
            doc = self.json_ok("status", "rejects")
            self.assertEqual(doc["status"], "degraded")

            wait_for(lambda: self.status_of("frozen") == "deployed",
                     what="frozen deployed")
            st, dep = self.srv.api("GET", "/streams/deployments/frozen")
            pid = [a for a in dep["apps"] if a["label"] == "log"][0][
                "instances"][0]["pid"]
            os.kill(pid, signal.SIGSTOP)
            wait_for(lambda: self.status_of("frozen") == "degraded",
                     what="frozen degraded")
            out = self.ok("status", "frozen")
            self.assertRegex(out, r"^frozen: degraded \(app log instance 0 "
                             r"stopped reporting metrics \(stale for \d+ "
                             r"s\)\)")
            self.assertRegex(out, r"log\s+sink\s+0\s+stale\s+%d" % pid)
            self.assertIn("frozen.log-0: stale: it stopped reporting metrics",
                          out)
            os.kill(pid, signal.SIGCONT)
            wait_for(lambda: self.status_of("frozen") == "deployed",
                     what="frozen deployed again")
            self.assertRegex(self.ok("status", "frozen"),
                             r"log\s+sink\s+0\s+deployed")
        finally:
            if pid:
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
            self.ctl("stream", "destroy", "rejects")
            self.ctl("stream", "destroy", "frozen")

    def test_bad_properties_are_refused(self):
        self.ok("stream", "create", "props", "time | log")
        rc, out, err = self.ctl("deploy", "props", "--properties",
                                "foo.x=1")
        self.assertEqual(rc, 1)
        self.assertIn("foo.x", err)
        self.assertEqual(out, "")
        self.ok("stream", "destroy", "props")

    def test_create_and_deploy(self):
        doc = self.json_ok("stream", "create", "cd", "time | log", "--deploy")
        self.assertEqual(doc["status"], "deployed")
        self.ok("stream", "destroy", "cd")

    def test_logs(self):
        self.ok("stream", "create", "lg", "time --fixed-delay=1 | log",
                "--deploy")

        def have_logs():
            rc, out, _ = self.ctl("-o", "json", "logs", "lg", "log")
            return rc == 0 and any(v.strip() for v in
                                   json.loads(out)["logs"].values())
        wait_for(have_logs, what="log output")
        out = self.ok("logs", "lg")
        self.assertIn("==> lg.log-0 <==", out)
        out = self.ok("logs", "lg", "log")
        self.assertIn("lg.log-0", out)
        doc = self.json_ok("logs", "lg")
        self.assertIn("lg.log-0", doc["logs"])
        # Follow: new lines keep coming, prefixed by the instance.
        p = subprocess.Popen([flowtest.FLOWCTL, "logs", "lg", "log", "-f"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=self.srv.env(), text=True)
        try:
            time.sleep(3.5)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("[lg.log-0] ", out)
        self.ok("stream", "destroy", "lg")

    # -- apps ---------------------------------------------------------------

    def test_apps(self):
        out = self.ok("apps")
        self.assertRegex(out, r"TYPE\s+NAME\s+OPTIONS")
        self.assertRegex(out, r"source\s+load-sim\s+.*rate")
        self.assertRegex(out, r"sink\s+counter")
        doc = self.json_ok("apps")
        apps = doc["_embedded"]["appRegistrationResourceList"]
        counter = [a for a in apps if a["name"] == "counter"][0]
        self.assertTrue(counter["options"])
        out = self.ok("apps", "--type", "sink")
        self.assertNotIn("load-sim", out)
        out = self.ok("app", "info", "load-sim")
        self.assertIn("Type:        source", out)
        self.assertRegex(out, r"rate\s+int\s+1000")
        doc = self.json_ok("app", "info", "counter", "--type", "sink")
        self.assertEqual(doc["name"], "counter")
        self.assertIn("name", [o["name"] for o in doc["options"]])
        # Register: the same executable again needs --force.
        rc, out, err = self.ctl("app", "register", "counter", "--type",
                                "sink", "--uri", counter["uri"])
        self.assertEqual(rc, 1, err)
        self.assertIn("--force", err)
        out = self.ok("app", "register", "counter", "--type", "sink",
                      "--uri", counter["uri"], "--force")
        self.assertIn("Registered sink app 'counter'", out)
        doc = self.json_ok("app", "register", "counter", "--type", "sink",
                           "--uri", counter["uri"], "--force")
        self.assertEqual((doc["name"], doc["type"]), ("counter", "sink"))
        # A name the executable does not declare is refused.
        rc, out, err = self.ctl("app", "register", "other", "--type", "sink",
                                "--uri", counter["uri"])
        self.assertEqual(rc, 1, err)
        rc, out, err = self.ctl("app", "register", "x", "--type", "sink",
                                "--uri", "/nonexistent/flow-x")
        self.assertEqual(rc, 1, err)

    # -- counters -----------------------------------------------------------

    def test_counters(self):
        self.ok("stream", "create", "cnt",
                "load-sim --rate=200 | account-events | counter "
                "--name=cli-hits", "--deploy")
        self.ok("stream", "create", "fvc",
                "load-sim --rate=200 | field-value-counter --name=cli-types "
                "--field-name=type", "--deploy")

        def counted():
            rc, out, _ = self.ctl("-o", "json", "counter", "cli-hits")
            return rc == 0 and json.loads(out)["value"] > 0
        wait_for(counted, what="counter cli-hits > 0")
        out = self.ok("counters")
        self.assertRegex(out, r"cli-hits\s+counter\s+\d")
        doc = self.json_ok("counters")
        self.assertIn("cli-hits", [c["name"] for c in doc["counters"]])
        out = self.ok("counter", "cli-hits", "--last", "2m", "--no-chart")
        self.assertRegex(out, r"cli-hits: \d")
        self.assertRegex(out, r"TIME\s+COUNT")
        self.assertIn("per second", out)
        out = self.ok("counter", "cli-hits", "--chart")
        self.assertIn("\u2588", out)
        doc = self.json_ok("counter", "cli-hits", "--resolution", "second")
        self.assertEqual(doc["history"]["resolution"], "second")
        self.assertGreater(sum(doc["history"]["values"].values()), 0)

        def fv():
            rc, out, _ = self.ctl("-o", "json", "field-value-counter",
                                  "cli-types")
            return rc == 0 and json.loads(out)["values"]
        vals = wait_for(fv, what="field values")
        out = self.ok("field-value-counter", "cli-types")
        first = next(iter(vals))
        self.assertIn(first, out)
        self.assertRegex(out, r"cli-types: \d+ in \d+ values")
        out = self.ok("field-value-counter")
        self.assertIn("cli-types", out)
        self.ok("stream", "destroy", "cnt")
        self.ok("stream", "destroy", "fvc")

    # -- apply / export -------------------------------------------------------

    def test_apply_idempotent_and_export(self):
        d = tempfile.mkdtemp(prefix="flowctl-apply-")
        path = os.path.join(d, "s.flow")
        base = ("# two streams\n"
                "ap-one = time --fixed-delay=5\n"
                "    | log\n"
                "\n"
                "ap-two = load-sim --rate=5 | log\n")
        v2 = base.replace("--rate=5", "--rate=6") + "ap-three = time | log\n"
        v3 = v2.replace("--rate=6", "--rate=7")

        def write(text):
            with open(path, "w") as f:
                f.write(text)
        try:
            write(base)
            out = self.ok("apply", "-f", path)
            self.assertIn("2 created, 0 updated, 0 unchanged", out)
            self.assertRegex(out, r"ap-one\s+created")
            st, doc = self.srv.api("GET", "/streams/definitions/ap-one")
            self.assertEqual(doc["dslText"], "time --fixed-delay=5 | log")
            # Idempotent: the second apply changes nothing.
            out = self.ok("apply", "-f", path)
            self.assertIn("0 created, 0 updated, 2 unchanged", out)
            doc = self.json_ok("apply", "-f", path)
            self.assertEqual((doc["created"], doc["updated"],
                              doc["unchanged"]), (0, 0, 2))
            # A change is an update.
            write(v2)
            out = self.ok("apply", "-f", path)
            self.assertIn("1 created, 1 updated, 1 unchanged", out)
            st, doc = self.srv.api("GET", "/streams/definitions/ap-two")
            self.assertEqual(doc["dslText"], "load-sim --rate=6 | log")
            # A bad entry: errors point into the file, nothing changes.
            write(v2 + "ap-four = time | log\nap-five = time | lgo\n")
            rc, out, err = self.ctl("apply", "-f", path)
            self.assertEqual(rc, 1, err)
            self.assertIn(path + ":8:18: error:", err)
            self.assertIn("nothing was changed", err)
            self.assertEqual(self.srv.api(
                "GET", "/streams/definitions/ap-four")[0], 404)
            # --deploy deploys; again, nothing is redeployed.
            write(v2)
            out = self.ok("apply", "-f", path, "--deploy")
            self.assertRegex(out, r"ap-one\s+unchanged, deployed\s+deployed")
            out = self.ok("apply", "-f", path, "--deploy")
            self.assertIn("0 created, 0 updated, 3 unchanged", out)
            self.assertNotIn(", deployed", out)
            # An update of a deployed stream redeploys it.
            write(v3)
            out = self.ok("apply", "-f", path)
            self.assertRegex(out, r"ap-two\s+updated, deployed\s+deployed")
            self.assertEqual(self.status_of("ap-two"), "deployed")
            # Export reads back as a file with nothing to change.
            out = self.ok("export")
            self.assertIn("ap-one = time --fixed-delay=5 | log\n", out)
            self.assertIn("ap-two = load-sim --rate=7 | log\n", out)
            exp = os.path.join(d, "export.flow")
            with open(exp, "w") as f:
                f.write(out)
            out = self.ok("apply", "-f", exp)
            self.assertRegex(out, r"0 created, 0 updated, \d+ unchanged")
            doc = self.json_ok("export")
            self.assertTrue(doc["_embedded"]["streamDefinitionResourceList"])
            # Stdin works too.
            out = self.ok("apply", "-f", "-", input="ap-one = time "
                          "--fixed-delay=5 | log\n")
            self.assertIn("1 unchanged", out)
            # Structure errors in the file.
            rc, out, err = self.ctl("apply", "-f", "-",
                                    input="just words\n")
            self.assertEqual(rc, 1)
            self.assertIn("<stdin>:1:", err)
        finally:
            for n in ("ap-one", "ap-two", "ap-three", "ap-four", "ap-five"):
                self.srv.api("DELETE", "/streams/definitions/" + n)
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)

    def test_apply_examples(self):
        """apply reads streams/examples.flow as validate and flowd --load
        do: a comment inside an indented continuation is a comment (apply
        used to fail at 22:3), and every entry is created."""
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "..", "..", "streams", "examples.flow")
        rc, out, err = self.ctl("validate", path)
        self.assertEqual(rc, 0, out + err)
        doc = self.json_ok("apply", "-f", path)
        names = [e["name"] for e in doc["streams"]]
        try:
            self.assertTrue(doc["ok"], doc)
            self.assertIn("long-one", names)
            self.assertEqual(doc["created"], len(names), doc)
            st, d = self.srv.api("GET", "/streams/definitions/long-one")
            self.assertEqual(d["dslText"],
                             "load-sim --rate=2000 --accounts=500 | "
                             "account-events --max-accounts=1000 | counter "
                             "--name=long-one")
            out = self.ok("apply", "-f", path)
            self.assertIn("0 created, 0 updated, %d unchanged" % len(names),
                          out)
        finally:
            # Readers of destinations and taps first, as export orders them.
            for n in sorted(names, key=lambda n: n != "consumer"):
                self.srv.api("DELETE", "/streams/definitions/" + n)

    # -- conventions ----------------------------------------------------------

    def test_server_precedence(self):
        good = self.srv.url
        bad = "http://127.0.0.1:%d" % flowtest.free_port()
        cfgdir = tempfile.mkdtemp(prefix="flowctl-cfg-")
        os.makedirs(os.path.join(cfgdir, "flowctl"))
        cfg = os.path.join(cfgdir, "flowctl", "config")
        try:
            with open(cfg, "w") as f:
                f.write("# flowctl config\nserver = %s\n" % good)
            # The config file alone.
            rc, _, err = self.ctl("status", FLOW_SERVER=None,
                                  XDG_CONFIG_HOME=cfgdir)
            self.assertEqual(rc, 0, err)
            # FLOW_SERVER beats the file.
            rc, _, err = self.ctl("status", FLOW_SERVER=bad,
                                  XDG_CONFIG_HOME=cfgdir)
            self.assertEqual(rc, 3, err)
            # --server beats FLOW_SERVER, before or after the command.
            rc, _, err = self.ctl("--server", good, "status", FLOW_SERVER=bad)
            self.assertEqual(rc, 0, err)
            rc, _, err = self.ctl("status", "--server=" + good,
                                  FLOW_SERVER=bad)
            self.assertEqual(rc, 0, err)
            # A broken config file is a usage error naming the line.
            with open(cfg, "w") as f:
                f.write("server = %s\ncolour = red\n" % good)
            rc, _, err = self.ctl("status", XDG_CONFIG_HOME=cfgdir)
            self.assertEqual(rc, 2)
            self.assertIn(cfg + ":2: unknown key 'colour'", err)
        finally:
            os.unlink(cfg)
            os.rmdir(os.path.join(cfgdir, "flowctl"))
            os.rmdir(cfgdir)

    def test_json_is_one_document(self):
        self.ok("stream", "create", "js", "time | log")
        for args in (["stream", "list"], ["stream", "info", "js"],
                     ["status"], ["status", "js"], ["apps"],
                     ["app", "info", "log"], ["counters"], ["export"],
                     ["version"], ["top"], ["field-value-counter"]):
            doc = self.json_ok(*args)
            self.assertIsInstance(doc, dict, args)
        self.ok("stream", "destroy", "js")

    def test_colour(self):
        self.ok("stream", "create", "col", "time | log")
        out = self.ok("--color=always", "stream", "list")
        self.assertIn("\x1b[", out)
        out = self.ok("--color=never", "stream", "list")
        self.assertNotIn("\x1b[", out)
        out = self.ok("stream", "list")  # not a terminal: auto is off
        self.assertNotIn("\x1b[", out)
        out = self.ok("stream", "list", NO_COLOR="1")
        self.assertNotIn("\x1b[", out)
        self.ok("stream", "destroy", "col")

    # -- tap ------------------------------------------------------------------

    def test_tap(self):
        self.ok("stream", "create", "tp",
                "load-sim --rate=100 | account-events | log", "--deploy")
        rc, out, err = self.ctl("tap", "tp.load-sim", "-n", "5", timeout=60)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 5, out)
        for line in lines:
            ev = json.loads(line)
            self.assertEqual(ev["stream"], "tp")
            self.assertEqual(ev["app"], "load-sim")
            self.assertIsInstance(ev["payload"], dict)
            self.assertTrue(ev["type"])
        # The default app is the one before the sink.
        rc, out, err = self.ctl("tap", "tp", "-n", "2", timeout=60)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out.splitlines()[0])["app"],
                         "account-events")
        # Without -n it runs until the stream goes away.
        p = subprocess.Popen([flowtest.FLOWCTL, "tap", "tp.account-events"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=self.srv.env(), text=True)
        try:
            line = p.stdout.readline()
            self.assertEqual(json.loads(line)["app"], "account-events")
            self.ok("undeploy", "tp")
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("tp.account-events is no longer deployed", err)
        self.ok("stream", "destroy", "tp")


class Token(unittest.TestCase):
    def test_token_precedence(self):
        srv = Flowd(token="s3cret")
        try:
            # No token: refused with a hint.
            rc, out, err = srv.ctl("status", FLOW_TOKEN=None)
            self.assertEqual(rc, 1, err)
            self.assertIn("--token", err)
            rc, out, err = srv.ctl("status")  # FLOW_TOKEN from env
            self.assertEqual(rc, 0, err)
            rc, out, err = srv.ctl("--token", "wrong", "status")
            self.assertEqual(rc, 1, err)
            rc, out, err = srv.ctl("--token", "s3cret", "status",
                                   FLOW_TOKEN="wrong")
            self.assertEqual(rc, 0, err)
            cfgdir = os.path.join(srv.tmp, "cfg")
            os.makedirs(os.path.join(cfgdir, "flowctl"))
            with open(os.path.join(cfgdir, "flowctl", "config"), "w") as f:
                f.write("token = s3cret\n")
            rc, out, err = srv.ctl("status", FLOW_TOKEN=None,
                                   XDG_CONFIG_HOME=cfgdir)
            self.assertEqual(rc, 0, err)
            rc, out, err = srv.ctl("status", FLOW_TOKEN="wrong",
                                   XDG_CONFIG_HOME=cfgdir)
            self.assertEqual(rc, 1, err)
        finally:
            srv.stop()

    def test_token_from_data_dir(self):
        """flowd makes its own token; flowctl run as the same user finds it
        in $FLOW_DATA_DIR, else ./flow-data or build/flow-data, but never
        through a link nor when --token, FLOW_TOKEN or the config file
        give one."""
        srv = Flowd()
        try:
            self.assertEqual(len(srv.token), 64)
            rc, out, err = srv.ctl("status")  # FLOW_DATA_DIR=srv.data
            self.assertEqual(rc, 0, err)
            empty = os.path.join(srv.tmp, "empty")
            os.makedirs(empty)
            rc, out, err = srv.ctl("status", FLOW_DATA_DIR=empty)
            self.assertEqual(rc, 1, err)
            self.assertIn("FLOW_DATA_DIR", err)
            rc, out, err = srv.ctl("status", FLOW_TOKEN="wrong")
            self.assertEqual(rc, 1, err)
            rc, out, err = srv.ctl("--token", "wrong", "status")
            self.assertEqual(rc, 1, err)
            rc, out, err = srv.ctl("status", FLOW_TOKEN=srv.token,
                                   FLOW_DATA_DIR=empty)
            self.assertEqual(rc, 0, err)
            # The defaults, relative to the working directory.
            for rel in ("flow-data", "build/flow-data"):
                cwd = tempfile.mkdtemp(dir=srv.tmp)
                os.makedirs(os.path.dirname(os.path.join(cwd, rel)),
                            exist_ok=True)
                os.symlink(srv.data, os.path.join(cwd, rel))
                p = subprocess.run([flowtest.FLOWCTL, "status"], cwd=cwd,
                                   env=srv.env(FLOW_DATA_DIR=None),
                                   capture_output=True, text=True,
                                   timeout=60)
                self.assertEqual(p.returncode, 0, (rel, p.stderr))
            # A token file that is a link is not read.
            linked = os.path.join(srv.tmp, "linked")
            os.makedirs(linked)
            os.symlink(os.path.join(srv.data, "token"),
                       os.path.join(linked, "token"))
            rc, out, err = srv.ctl("status", FLOW_DATA_DIR=linked)
            self.assertEqual(rc, 1, err)
            # Nor one owned by another user.
            if os.geteuid() == 0:
                copy = os.path.join(srv.tmp, "other")
                os.makedirs(copy)
                with open(os.path.join(copy, "token"), "w") as f:
                    f.write(srv.token + "\n")
                os.chown(os.path.join(copy, "token"), 65534, 65534)
                rc, out, err = srv.ctl("status", FLOW_DATA_DIR=copy)
                self.assertEqual(rc, 1, err)
                os.chown(os.path.join(copy, "token"), 0, 0)
                rc, out, err = srv.ctl("status", FLOW_DATA_DIR=copy)
                self.assertEqual(rc, 0, err)
        finally:
            srv.stop()


if __name__ == "__main__":
    flowtest.main_unittest(sys.argv)
