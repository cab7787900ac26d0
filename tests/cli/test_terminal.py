"""flowctl's terminal commands driven through a real terminal (tmux, with
keystrokes and screen captures): `top` draws and refreshes, quits on q and
restores the terminal (also when killed by SIGTERM); `shell` completes
commands, stream names and definitions, runs commands and keeps a
history; the bash completion script completes stream names.

usage: test_terminal.py FLOWCTL FLOWD [unittest args]
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flowtest  # noqa: E402
from flowtest import Flowd, wait_for  # noqa: E402

TMUX = shutil.which("tmux")


class Tmux:
    """A private tmux server (own socket) running one command."""

    count = 0

    def __init__(self, tmpdir, env, command):
        Tmux.count += 1
        self.sock = os.path.join(tmpdir, "tmux%d.sock" % Tmux.count)
        envs = " ".join("%s='%s'" % (k, v) for k, v in env.items()
                        if k in ("HOME", "FLOW_SERVER", "FLOW_TOKEN",
                                 "FLOW_DATA_DIR", "PATH",
                                 "XDG_STATE_HOME", "XDG_CONFIG_HOME"))
        shell_cmd = ("env TERM=xterm %s %s; echo EXIT=$?; "
                     "stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; "
                     "sleep 600" % (envs, command))
        subprocess.run([TMUX, "-S", self.sock, "-f", "/dev/null",
                        "new-session", "-d", "-x", "160", "-y", "45",
                        "-s", "t", shell_cmd], check=True,
                       env=dict(env, TERM="xterm"))

    def screen(self):
        p = subprocess.run([TMUX, "-S", self.sock, "capture-pane", "-p",
                            "-t", "t"], capture_output=True, text=True)
        return p.stdout

    def keys(self, *keys):
        subprocess.run([TMUX, "-S", self.sock, "send-keys", "-t", "t"] +
                       list(keys), check=True)

    def type(self, text):
        subprocess.run([TMUX, "-S", self.sock, "send-keys", "-t", "t", "-l",
                        text], check=True)

    def wait_screen(self, pred, what, timeout=30):
        """Waits until pred(screen) holds; returns that screen. Note that
        a capture drops the spaces at the end of each line."""
        def check():
            s = self.screen()
            return s if pred(s) else None
        try:
            return wait_for(check, timeout=timeout, what=what)
        except AssertionError as e:
            raise AssertionError("%s; the screen:\n%s" % (e, self.screen()))

    def pane_pid(self):
        p = subprocess.run([TMUX, "-S", self.sock, "list-panes", "-t", "t",
                            "-F", "#{pane_pid}"], capture_output=True,
                           text=True)
        return int(p.stdout.split()[0])

    def kill(self):
        subprocess.run([TMUX, "-S", self.sock, "kill-server"],
                       capture_output=True)


def flowctl_pid_under(ppid):
    """The pid of a flowctl process below ppid (its child or grandchild)."""
    kids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        pp = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(pp, []).append((int(pid), comm))
    todo = [ppid]
    while todo:
        p = todo.pop()
        for pid, comm in kids.get(p, []):
            if comm == "flowctl":
                return pid
            todo.append(pid)
    return None


@unittest.skipIf(TMUX is None, "tmux is not installed")
class Terminal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Flowd()
        cls.env = cls.srv.env()
        cls.env["PATH"] = os.path.dirname(flowtest.FLOWCTL) + ":" + \
            cls.env.get("PATH", "/usr/bin:/bin")
        rc, out, err = cls.srv.ctl("stream", "create", "shellstream",
                                   "load-sim --rate=100 | account-events | "
                                   "log", "--deploy")
        if rc != 0:
            cls.srv.stop()
            raise RuntimeError("cannot set up: " + err)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def start(self, command):
        t = Tmux(self.srv.tmp, self.env, command)
        self.addCleanup(t.kill)
        return t

    def test_top_refreshes_and_quits_on_q(self):
        t = self.start(flowtest.FLOWCTL + " top")
        scr = t.wait_screen(lambda s: "account-events" in s and
                            "STREAM" in s and "q quits" in s, "top's table")
        self.assertRegex(scr, r"shellstream\s+load-sim\s+1/1\s+deployed")
        self.assertIn("flowctl top - " + self.srv.url, scr)
        # It refreshes: the clock in the header changes.
        first = [ln for ln in scr.splitlines() if "flowctl top" in ln][0]
        t.wait_screen(lambda s: first not in s, "a refreshed header")
        t.keys("q")
        scr = t.wait_screen(lambda s: "EXIT=" in s and "icanon" in s,
                            "top's exit")
        self.assertIn("EXIT=0", scr)
        # Raw mode is gone (icanon back on) and the alternate screen too.
        self.assertIn("\nicanon", "\n" + scr)
        self.assertNotIn("q quits", scr)

    def test_top_restores_terminal_on_sigterm(self):
        t = self.start(flowtest.FLOWCTL + " top shellstream")
        t.wait_screen(lambda s: "q quits" in s, "top")
        pid = wait_for(lambda: flowctl_pid_under(t.pane_pid()),
                       what="flowctl's pid")
        os.kill(pid, signal.SIGTERM)
        scr = t.wait_screen(lambda s: "EXIT=" in s and "icanon" in s,
                            "top's exit")
        self.assertIn("EXIT=143", scr)
        self.assertIn("\nicanon", "\n" + scr)
        self.assertNotIn("q quits", scr)

    def test_shell_completion_and_history(self):
        t = self.start(flowtest.FLOWCTL + " shell")
        t.wait_screen(lambda s: "flow>" in s, "the prompt")
        # A command name, then a stream name.
        t.type("stat")
        t.keys("Tab")
        t.wait_screen(lambda s: "flow> status" in s, "'status' completed")
        t.type("shells")
        t.keys("Tab")
        t.wait_screen(lambda s: "flow> status shellstream" in s,
                      "the stream name completed")
        t.keys("Enter")
        t.wait_screen(lambda s: "shellstream: deployed" in s,
                      "the status output")
        # An app label of that stream.
        t.type("logs shellstream acc")
        t.keys("Tab")
        t.wait_screen(lambda s: "logs shellstream account-events" in s,
                      "the label completed")
        t.keys("C-u")
        # Inside a definition, from the server's /completions/stream.
        t.type("stream create sx 'time | lo")
        t.keys("Tab")
        t.wait_screen(lambda s: "stream create sx 'time | log" in s,
                      "the app name completed in the definition")
        t.type("'")
        t.keys("Enter")
        t.wait_screen(lambda s: "Created stream 'sx'" in s, "the create")
        st, doc = self.srv.api("GET", "/streams/definitions/sx")
        self.assertEqual(doc["dslText"], "time | log")
        # Errors do not leave the shell.
        t.type("stream info nope")
        t.keys("Enter")
        t.wait_screen(lambda s: "nope" in s.split("stream info nope", 1)[-1],
                      "the error")
        t.type("exit")
        t.keys("Enter")
        t.wait_screen(lambda s: "EXIT=" in s, "the shell's exit")
        hist = os.path.join(self.srv.home, ".local", "state", "flowctl",
                            "history")
        with open(hist) as f:
            # libedit writes spaces as \040.
            text = f.read().replace("\\040", " ")
        self.assertIn("\nstatus shellstream\n", text)
        self.assertIn("stream create sx 'time | log'", text)
        self.srv.api("DELETE", "/streams/definitions/sx")

    def test_shell_history_recall(self):
        hist_dir = os.path.join(self.srv.home, ".local", "state", "flowctl")
        os.makedirs(hist_dir, exist_ok=True)
        t = self.start(flowtest.FLOWCTL + " shell")
        t.wait_screen(lambda s: "flow>" in s, "the prompt")
        t.type("version --client")
        t.keys("Enter")
        t.wait_screen(lambda s: s.count("flow>") >= 2, "a second prompt")
        # Ctrl-C drops the line being typed, not the shell.
        t.type("stream li")
        t.keys("C-c")
        t.wait_screen(lambda s: s.count("flow>") >= 3, "a prompt after ^C")
        t.keys("Up")
        t.wait_screen(lambda s: s.rstrip().endswith("flow> version --client"),
                      "the recalled line")
        t.keys("C-u")
        t.keys("C-d")
        scr = t.wait_screen(lambda s: "EXIT=" in s, "the exit on Ctrl-D")
        self.assertIn("EXIT=0", scr)

    def test_bash_completion_script(self):
        self.srv.ctl("stream", "create", "comp-alpha", "time | log")
        self.srv.ctl("stream", "create", "comp-beta", "time | log")
        script = subprocess.run([flowtest.FLOWCTL, "completion", "bash"],
                                capture_output=True, text=True,
                                env=self.env).stdout
        path = os.path.join(self.srv.tmp, "flowctl.bash")
        with open(path, "w") as f:
            f.write(script)

        def complete(*words):
            words = list(words)
            arr = " ".join("'%s'" % w for w in words)
            prog = ('source "%s"; COMP_WORDS=(%s); COMP_CWORD=%d; '
                    '_flowctl; printf "%%s\\n" "${COMPREPLY[@]}"' %
                    (path, arr, len(words) - 1))
            p = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog],
                               capture_output=True, text=True, env=self.env,
                               timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            return sorted(x for x in p.stdout.split("\n") if x)

        self.assertEqual(complete("flowctl", "deploy", "comp-"),
                         ["comp-alpha", "comp-beta"])
        self.assertIn("shellstream", complete("flowctl", "status", ""))
        self.assertEqual(complete("flowctl", "stream", "info", "comp-b"),
                         ["comp-beta"])
        self.assertEqual(complete("flowctl", "dep"), ["deploy"])
        self.assertEqual(complete("flowctl", "logs", "shellstream", "acc"),
                         ["account-events"])
        self.assertEqual(complete("flowctl", "-o", "js"), ["json"])
        self.assertEqual(complete("flowctl", "tap", "shellstream.lo"),
                         ["shellstream.load-sim", "shellstream.log"])
        self.assertIn("--properties", complete("flowctl", "deploy", "x",
                                               "--prop"))
        self.srv.ctl("stream", "destroy", "comp-alpha")
        self.srv.ctl("stream", "destroy", "comp-beta")


if __name__ == "__main__":
    flowtest.main_unittest(sys.argv)
