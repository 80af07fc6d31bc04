#!/usr/bin/env python3
"""agentdock's runner in a pre-warmed pool container, mounted read-only over the image's
/usr/local/bin/agentdock-task (see src/tasks/pool.rs). It runs agentdock's own task runner
(docker/task-run.py, mounted beside it at /opt/agentdock-pool/task_run.py: the copy this
agentdock was built with, so the pool works with any image of the agent contract) after a wait:

  1. the Claude Code CLI is started ahead in WORKSPACE (the project already cloned there), with
     --input-format stream-json, waiting on stdin; TASK_DIR/state says "warming", then "ready"
     (the CLI is started; a task handed over now waits for the rest of its start), and
     TASK_DIR/cli-up holds the time the CLI went quiet, its start done (it makes no request
     before it has a prompt: its CPU time standing still for QUIET_SECS is the sign);
  2. the host hands a task over by writing TASK_DIR/claim.json: a JSON object of the task's
     settings (TASK_FILE, SESSION_ID, TASK_BRANCH, BUNDLE_BASE, TIMEOUT, …, as task-run.py
     reads them), taken as this process's environment;
  3. task-run.py runs the task as in any container; when it starts the CLI with the model and
     permission mode of the one started ahead, it gets that one instead, and the prompt it
     writes goes to it as one stream-json user message. Any other CLI (another model) is
     started fresh, and the one started ahead is stopped.

The CLI ending before a claim, or a SIGTERM, ends the container ("gone" in TASK_DIR/state):
the host makes another.
"""
import importlib.machinery
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

RUNNER = os.environ.get("AGENTDOCK_POOL_RUNNER", "/opt/agentdock-pool/task_run.py")
QUIET_SECS = 0.3
stopped = []


def on_signal(signum, _frame):
    stopped.append(signum)


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, on_signal)


def load_runner():
    loader = importlib.machinery.SourceFileLoader("agentdock_task_run", RUNNER)
    spec = importlib.util.spec_from_loader("agentdock_task_run", loader)
    m = importlib.util.module_from_spec(spec)
    loader.exec_module(m)
    return m


class JsonStdin:
    """The CLI's stdin as task-run.py writes it (the prompt's bytes, then close): one
    stream-json user message instead."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        msg = {"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": text}]}}
        self._f.write((json.dumps(msg) + "\n").encode())
        self._f.flush()
        return len(data)

    def flush(self):
        self._f.flush()

    def close(self):
        self._f.close()


class Ahead:
    """The CLI started ahead, as the Popen task-run.py asked for."""

    def __init__(self, p):
        self._p = p
        self.stdin = JsonStdin(p.stdin)

    def __getattr__(self, name):
        return getattr(self._p, name)


class Subprocess:
    """task-run.py's `subprocess`: the same, but for the CLI it starts."""

    def __init__(self, ahead, plain, note):
        self._ahead, self._plain, self._note = ahead, plain, note

    def __getattr__(self, name):
        return getattr(subprocess, name)

    def Popen(self, argv, *args, **kwargs):  # noqa: N802 (subprocess's own name)
        if argv and argv[0] == "claude" and self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            if list(argv) == self._plain and ahead.poll() is None:
                self._note("started ahead")
                return Ahead(ahead)
            stop(ahead)  # another model or permission mode: a fresh CLI
            self._note("started fresh: another model or permission mode, or the one ahead ended")
        return subprocess.Popen(argv, *args, **kwargs)


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    p.wait()


class Quiet:
    """Says (once, in a file) when a process's CPU time has stood still for QUIET_SECS."""

    def __init__(self, pid, path, write):
        self.pid, self.path, self.write = pid, path, write
        self.last, self.since, self.said = None, time.monotonic(), False

    def look(self):
        if self.said:
            return
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            return
        now = time.monotonic()
        if ticks != self.last:
            self.last, self.since = ticks, now
        elif now - self.since >= QUIET_SECS:
            self.write(self.path, f"{time.time():.3f}\n")
            self.said = True


def main():
    m = load_runner()
    # loading it set its own early handlers: ours again, until its main() sets the task's
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    task = m.Task()
    state = os.path.join(task.task_dir, "state")
    claim = os.path.join(task.task_dir, "claim.json")
    task.git_ok = os.path.exists(os.path.join(task.workspace, ".git"))
    m.write_atomic(state, "warming\n")
    # the CLI as task-run.py starts it, but reading its prompt as stream-json
    plain = ["claude", "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", task.permission_mode]
    if task.model:
        plain += ["--model", task.model]
    argv = plain[:2] + ["--input-format", "stream-json"] + plain[2:]
    env = dict(os.environ)
    for k in ("TASK", "TASK_FILE"):
        env.pop(k, None)
    if task.git_ok:
        # no git identity anywhere: the fallback task-run.py gives, so the agent's commits work
        if not (task.git("config", "user.name", check=False) or env.get("GIT_AUTHOR_NAME")):
            env.setdefault("GIT_AUTHOR_NAME", m.FALLBACK_NAME)
            env.setdefault("GIT_COMMITTER_NAME", m.FALLBACK_NAME)
        if not (task.git("config", "user.email", check=False) or env.get("GIT_AUTHOR_EMAIL") or env.get("EMAIL")):
            env.setdefault("GIT_AUTHOR_EMAIL", m.FALLBACK_EMAIL)
            env.setdefault("GIT_COMMITTER_EMAIL", m.FALLBACK_EMAIL)
    started_at = time.time()
    p = subprocess.Popen(argv, cwd=task.workspace, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    m.write_atomic(state, "ready\n")
    m.log("INFO", "pool: the CLI is started; waiting for a task")
    quiet = Quiet(p.pid, os.path.join(task.task_dir, "cli-up"), m.write_atomic)
    while not os.path.exists(claim):
        quiet.look()
        if stopped or p.poll() is not None:
            m.log("WARN", "pool: stopped" if stopped else "pool: the CLI ended before a task came")
            stop(p)
            m.write_atomic(state, "gone\n")
            return 1
        time.sleep(0.01)
    with open(claim, "rb") as f:
        settings = json.loads(f.read(1 << 20))
    for k, v in settings.items():
        if isinstance(k, str) and isinstance(v, str):
            os.environ[k] = v
    branch = os.environ.get("TASK_BRANCH")
    if task.git_ok and branch:
        # the pool's branch becomes the task's (the CLI saw it under its pool name)
        task.git("branch", "-m", branch, check=False)
    m.log("INFO", f"pool: claimed by task {os.environ.get('SESSION_ID', '?')}")
    claimed_at = time.time()

    def note(cli):
        # what the host may read about the hand-over (TASK_DIR/pool.json)
        m.write_atomic(os.path.join(task.task_dir, "pool.json"), json.dumps(
            {"cli": cli, "cli_started_at": started_at, "claimed_at": claimed_at, "prompt_at": time.time()}) + "\n")

    m.subprocess = Subprocess(p, plain, note)
    # a signal that came while waiting is the task's cancel
    if stopped:
        os.environ["AGENTDOCK_TASK_CANCELLED"] = "1"
    return m.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
