#!/usr/bin/env python3
"""agentdock-task: runs one task (a prompt) through the Claude Code CLI, headless, then hands the
work back as git commits in a bundle. Installed as /usr/local/bin/agentdock-task; the entrypoint
execs it when TASK or TASK_FILE is set or its first argument is --task.

Environment
  TASK_FILE        file holding the prompt (wins over TASK); read byte for byte
  TASK             the prompt itself
  WORKSPACE        the git work tree (default /workspace)
  REPO_URL         clone this into WORKSPACE when it has no .git (BRANCH = branch to clone)
  BRANCH           base branch (informational when WORKSPACE is already a checkout)
  TASK_BRANCH      branch the work goes on (default agentdock/task-$SESSION_ID); when the
                   checked-out branch differs: git checkout -B TASK_BRANCH
  TIMEOUT          seconds before the CLI is stopped (default 300; 0 = none)
  MAX_OUTPUT_SIZE  bytes of CLI stream-json output kept (default 10485760; 0 = no cap)
  SESSION_ID       task id (default: random)
  LOG_LEVEL        DEBUG, INFO, WARN or ERROR (default INFO) for this runner's own messages
  MODEL            passed to the CLI as --model
  PERMISSION_MODE  CLI --permission-mode (default bypassPermissions)
  TASK_DIR         output dir (default /agentdock/task when it exists, else a new temp dir)
  BUNDLE_BASE      commit the host already has: the bundle holds only commits after it, and no
                   bundle is written when the task branch is still at it
  AGENTDOCK_TASK_CANCELLED  set by a wrapper that got SIGTERM before the runner started: the
                   task ends "cancelled" at once (result files still written)
  AGENTDOCK_POOL   "1": a pre-warmed pool container (agentdock mounts this file over the image's
                   runner for those). The CLI is started ahead in WORKSPACE (already cloned)
                   with --input-format stream-json, "ready" is written to TASK_DIR/state, and the
                   runner waits for TASK_DIR/claim.json: a JSON object of the task's settings
                   (the variables above), which it takes as its environment. Then the task runs
                   as any other, its prompt written to the waiting CLI as one user message (a
                   fresh CLI when the claim asks for another model or permission mode).

Outputs in TASK_DIR
  state            "running", then the final state (each written by rename)
  events.jsonl     the CLI's stdout (stream-json), line by line as it arrives
  stderr.log       the CLI's stderr (first 1 MiB)
  result.bundle    git bundle of TASK_BRANCH (minus BUNDLE_BASE), when there are new commits
  result.json      state, reason, cli_exit_code, started_at, ended_at, duration_ms, head, base,
                   start_head, branch, committed_leftovers, bundle, output_bytes, output_capped,
                   session_id, timeout_s, max_output_size

States and exit codes
  succeeded 0 | failed 1 | output_capped 3 | timed_out 124 | cancelled 130 (SIGTERM/SIGINT/SIGHUP)
Uncommitted changes are committed on TASK_BRANCH (hooks off) whatever the state. With no git
identity configured, the CLI (and that commit) get agentdock <agentdock@localhost>.
"""
import signal

# Signals that come while Python is still starting (PID 1 would drop them) are kept for main().
_early_signals = []


def _early(signum, _frame):
    _early_signals.append(signum)


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _early)

import datetime  # noqa: E402 (after the early signal handlers, on purpose)
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

EXIT_CODES = {"succeeded": 0, "failed": 1, "output_capped": 3, "timed_out": 124, "cancelled": 130}
STDERR_CAP = 1 << 20
KILL_GRACE = 2.0      # SIGTERM -> SIGKILL on timeout / output cap
CANCEL_GRACE = 0.8    # same on cancel: the whole cancel must stay under 2 s
LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40}
FALLBACK_NAME, FALLBACK_EMAIL = "agentdock", "agentdock@localhost"

log_level = LEVELS.get(os.environ.get("LOG_LEVEL", "INFO").upper(), 20)


def log(level, msg):
    if LEVELS[level] >= log_level:
        try:
            sys.stderr.write(f"agentdock-task: {level}: {msg}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def now_rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_atomic(path, data):
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Task:
    def __init__(self):
        env = os.environ
        self.started = time.time()
        self.session_id = env.get("SESSION_ID") or uuid.uuid4().hex[:12]
        self.workspace = env.get("WORKSPACE") or "/workspace"
        self.task_branch = env.get("TASK_BRANCH") or f"agentdock/task-{self.session_id}"
        self.bundle_base = env.get("BUNDLE_BASE") or None
        self.model = env.get("MODEL") or None
        self.permission_mode = env.get("PERMISSION_MODE") or "bypassPermissions"
        td = env.get("TASK_DIR")
        if not td:
            td = "/agentdock/task" if os.path.isdir("/agentdock/task") else tempfile.mkdtemp(prefix="agentdock-task-")
        self.task_dir = td
        self.state = None           # final state once known
        self.reason = None
        self.cli_exit = None
        self.cancel = threading.Event()
        self.capped = threading.Event()
        self.proc = None
        self.out_bytes = 0
        self.out_lock = threading.Lock()
        self.last_result = None
        self.stderr_tail = ""
        self.start_head = None
        self.committed = False
        self.bundle = None
        self.git_ok = False
        self.notes = []
        self.prestarted = None      # (process, model, permission mode) in a pool container

    # ---- signals ----------------------------------------------------------------------------
    def on_signal(self, signum, _frame):
        log("INFO", f"signal {signum}: cancelling")
        self.cancel.set()
        self.signal_group(signal.SIGTERM)

    def signal_group(self, sig):
        p = self.proc
        if p is not None and p.returncode is None:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    # ---- git --------------------------------------------------------------------------------
    def git(self, *args, check=True, timeout=120, extra_env=None):
        cmd = ["git", "-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null", *args]
        env = dict(os.environ)
        env["GIT_TERMINAL_PROMPT"] = "0"
        if extra_env:
            env.update(extra_env)
        r = subprocess.run(cmd, cwd=self.workspace, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, env=env)
        out = r.stdout.decode("utf-8", "replace").strip()
        if check and r.returncode != 0:
            raise RuntimeError(f"git {' '.join(args[:2])}: {r.stderr.decode('utf-8', 'replace').strip()}")
        log("DEBUG", f"git {' '.join(args)} -> {r.returncode}")
        return out if r.returncode == 0 else None

    def rev(self, ref):
        return self.git("rev-parse", "--verify", "-q", ref + "^{commit}", check=False) or None

    def current_branch(self):
        return self.git("symbolic-ref", "-q", "--short", "HEAD", check=False)

    def prepare_workspace(self):
        ws = self.workspace
        os.makedirs(ws, exist_ok=True)
        url = os.environ.get("REPO_URL")
        if url and not os.path.exists(os.path.join(ws, ".git")):
            if os.environ.get("GITHUB_TOKEN") and not os.environ.get("GIT_ASKPASS"):
                os.environ["GIT_ASKPASS"] = "/usr/local/bin/git-askpass-helper"
            branch = os.environ.get("BRANCH")
            log("INFO", f"cloning {url}" + (f" ({branch})" if branch else ""))
            if not os.listdir(ws):
                args = ["clone", "-q"] + (["--branch", branch] if branch else []) + ["--", url, "."]
                self.cancellable_git(args)
            else:  # a non-empty dir: init in place and check the branch out over it
                self.git("init", "-q")
                self.git("remote", "add", "origin", url)
                self.cancellable_git(["fetch", "-q", "origin", branch or "HEAD"])
                self.git("checkout", "-q", "-f", "-B", branch or "main", "FETCH_HEAD")
        if not os.path.exists(os.path.join(ws, ".git")):
            self.notes.append(f"{ws} is not a git repository: no commit, no bundle")
            log("WARN", self.notes[-1])
            return
        self.git_ok = True
        self.start_head = self.rev("HEAD")
        if self.current_branch() != self.task_branch:
            self.git("checkout", "-q", "-B", self.task_branch)
            log("INFO", f"on branch {self.task_branch}")

    def cancellable_git(self, args):
        p = subprocess.Popen(["git", "-c", "safe.directory=*", *args], cwd=self.workspace,
                             stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.proc = p
        try:
            while p.poll() is None:
                if self.cancel.is_set():
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
                    raise RuntimeError("cancelled during git " + args[0])
                time.sleep(0.05)
        finally:
            self.proc = None
        if p.returncode != 0:
            raise RuntimeError(f"git {args[0]} failed: {p.stderr.read().decode('utf-8', 'replace').strip()}")

    # ---- the CLI ----------------------------------------------------------------------------
    def read_prompt(self):
        tf = os.environ.get("TASK_FILE")
        if tf:
            with open(tf, "rb") as f:
                return f.read()
        return os.environb.get(b"TASK", b"")

    def cli_env(self):
        env = dict(os.environ)
        for k in ("TASK", "TASK_FILE"):
            env.pop(k, None)
        if self.git_ok:
            # no git identity anywhere: give the agent the fallback one, so its commits work
            if not (self.git("config", "user.name", check=False) or env.get("GIT_AUTHOR_NAME")):
                env.setdefault("GIT_AUTHOR_NAME", FALLBACK_NAME)
                env.setdefault("GIT_COMMITTER_NAME", FALLBACK_NAME)
            if not (self.git("config", "user.email", check=False) or env.get("GIT_AUTHOR_EMAIL") or env.get("EMAIL")):
                env.setdefault("GIT_AUTHOR_EMAIL", FALLBACK_EMAIL)
                env.setdefault("GIT_COMMITTER_EMAIL", FALLBACK_EMAIL)
        return env

    def cli_argv(self, stream_input=False):
        argv = ["claude", "-p", "--output-format", "stream-json", "--verbose",
                "--permission-mode", self.permission_mode]
        if stream_input:
            argv[2:2] = ["--input-format", "stream-json"]
        if self.model:
            argv += ["--model", self.model]
        return argv

    def run_cli(self, prompt, timeout_s, max_out):
        ahead = self.prestarted
        self.prestarted = None
        if ahead and (ahead[1], ahead[2]) == (self.model, self.permission_mode) and ahead[0].poll() is None:
            # the CLI started ahead (a pool container): the prompt is its first user message
            p = ahead[0]
            text = prompt.decode("utf-8", "replace")
            prompt = (json.dumps({"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": text}]}}) + "\n").encode()
            log("INFO", f"task {self.session_id}: the CLI started ahead gets the prompt ({len(text)} characters)")
        else:
            if ahead:
                log("INFO", "the CLI started ahead has another model or permission mode (or ended): a new one")
                try:
                    os.killpg(ahead[0].pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                ahead[0].wait()
            argv = self.cli_argv()
            log("INFO", f"task {self.session_id}: running {' '.join(argv)} ({len(prompt)} prompt bytes)")
            p = subprocess.Popen(argv, cwd=self.workspace, env=self.cli_env(), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        events = open(os.path.join(self.task_dir, "events.jsonl"), "wb")
        errlog = open(os.path.join(self.task_dir, "stderr.log"), "wb")
        self.proc = p
        if self.cancel.is_set():  # a signal came while starting
            self.signal_group(signal.SIGTERM)

        def feed():
            try:
                p.stdin.write(prompt)
            except (BrokenPipeError, OSError, ValueError):
                pass
            finally:
                try:
                    p.stdin.close()
                except (BrokenPipeError, OSError):
                    pass

        def pump_out():
            try:
                for line in iter(p.stdout.readline, b""):
                    with self.out_lock:
                        if self.capped.is_set():
                            continue  # drain, keep nothing
                        if max_out and self.out_bytes + len(line) > max_out:
                            self.capped.set()
                            continue
                        events.write(line)
                        events.flush()
                        self.out_bytes += len(line)
                    try:
                        sys.stdout.buffer.write(line)
                        sys.stdout.buffer.flush()
                    except (OSError, ValueError):
                        pass
                    if b'"result"' in line:
                        try:
                            ev = json.loads(line)
                            if isinstance(ev, dict) and ev.get("type") == "result":
                                self.last_result = ev
                        except ValueError:
                            pass
            except (OSError, ValueError):
                pass

        def pump_err():
            kept = 0
            try:
                for line in iter(p.stderr.readline, b""):
                    s = line.decode("utf-8", "replace").strip()
                    if s:
                        self.stderr_tail = s
                    if kept < STDERR_CAP:
                        chunk = line[:STDERR_CAP - kept]
                        errlog.write(chunk)
                        errlog.flush()
                        kept += len(chunk)
                        try:
                            sys.stderr.buffer.write(chunk)
                            sys.stderr.buffer.flush()
                        except (OSError, ValueError):
                            pass
            except (OSError, ValueError):
                pass

        threads = [threading.Thread(target=f, daemon=True) for f in (feed, pump_out, pump_err)]
        for t in threads:
            t.start()
        deadline = self.started + timeout_s if timeout_s > 0 else None
        kill_at = None
        stop_state = None
        while True:
            try:
                rc = p.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            t = time.time()
            if stop_state is None:
                if self.cancel.is_set():
                    stop_state, grace = "cancelled", CANCEL_GRACE
                elif self.capped.is_set():
                    stop_state, grace = "output_capped", KILL_GRACE
                elif deadline is not None and t >= deadline:
                    stop_state, grace = "timed_out", KILL_GRACE
                if stop_state:
                    log("INFO", f"stopping the CLI: {stop_state}")
                    self.signal_group(signal.SIGTERM)
                    kill_at = t + grace
            elif self.cancel.is_set() and stop_state != "cancelled":
                # a cancel during a timeout/cap stop: keep the earlier state, hurry the kill
                kill_at = min(kill_at, t + CANCEL_GRACE)
            if kill_at is not None and t >= kill_at:
                log("INFO", "the CLI ignored SIGTERM: SIGKILL")
                self.signal_group(signal.SIGKILL)
                kill_at = t + 3600
        # leftovers of the group (background commands) go too
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for t in threads[1:]:
            t.join(timeout=1.0)
        events.close()
        errlog.close()
        self.cli_exit = rc
        if stop_state is None:  # the CLI ended before the loop saw the signal / the cap
            if self.cancel.is_set():
                stop_state = "cancelled"
            elif self.capped.is_set():
                stop_state = "output_capped"
        if stop_state:
            self.state = stop_state
            self.reason = {"cancelled": "cancelled by a signal",
                           "timed_out": f"timed out after {timeout_s:g} s",
                           "output_capped": f"CLI output exceeded MAX_OUTPUT_SIZE ({max_out} bytes)"}[stop_state]
            if self.git_ok:  # the CLI was killed: a git lock it held is stale now
                lock = os.path.join(self.workspace, ".git", "index.lock")
                if os.path.exists(lock) and time.time() - os.path.getmtime(lock) < 3600 * 24:
                    try:
                        os.unlink(lock)
                        self.notes.append("removed a stale .git/index.lock")
                    except OSError:
                        pass
            return
        res = self.last_result
        if rc == 0 and res is not None and not res.get("is_error"):
            self.state, self.reason = "succeeded", None
            return
        self.state = "failed"
        if res is not None and res.get("is_error"):
            msg = res.get("result")
            if not msg and res.get("errors"):
                msg = "; ".join(str(e) for e in res["errors"])
            self.reason = str(msg or res.get("subtype") or "the CLI reported an error")
        elif rc is not None and rc < 0:
            self.reason = f"claude killed by signal {-rc}"
        elif rc == 0:
            self.reason = "claude exited 0 without a result event"
        else:
            self.reason = f"claude exited with code {rc}" + (f": {self.stderr_tail}" if self.stderr_tail else "")

    # ---- wrap-up ----------------------------------------------------------------------------
    def commit_leftovers(self):
        if not self.git_ok:
            return
        branch = self.current_branch()
        if branch != self.task_branch:
            # the agent switched branches: follow it when it built on the task branch
            head = self.rev("HEAD")
            tip = self.rev("refs/heads/" + self.task_branch)
            if head and (tip is None or self.git("merge-base", "--is-ancestor", tip, head, check=False) is not None):
                self.git("checkout", "-q", "-B", self.task_branch)
                self.notes.append(f"the agent left {branch or 'a detached HEAD'}; moved {self.task_branch} to it")
            else:
                self.notes.append(f"the agent left {branch or 'a detached HEAD'}, not based on {self.task_branch}")
        if not self.git("status", "--porcelain", "--untracked-files=all", check=False):
            return
        self.git("add", "-A")
        ident = []
        if not self.git("config", "user.name", check=False):
            ident += ["-c", f"user.name={FALLBACK_NAME}"]
        if not self.git("config", "user.email", check=False):
            ident += ["-c", f"user.email={FALLBACK_EMAIL}"]
        self.git(*ident, "commit", "-q", "--no-verify", "--allow-empty-message",
                 "-m", f"agentdock: uncommitted changes of task {self.session_id}")
        self.committed = True

    def make_bundle(self):
        if not self.git_ok:
            return
        tip = self.rev("refs/heads/" + self.task_branch)
        if tip is None:
            return
        base = self.rev(self.bundle_base) if self.bundle_base else None
        if self.bundle_base and tip == base:
            return
        if self.bundle_base and base is None:
            self.notes.append(f"BUNDLE_BASE {self.bundle_base} is not in the repository: full bundle")
        path = os.path.join(self.task_dir, "result.bundle")
        tmp = path + ".tmp"
        args = ["bundle", "create", "-q", tmp, "refs/heads/" + self.task_branch] + (["^" + base] if base else [])
        r = self.git(*args, check=False)
        if r is None or not os.path.exists(tmp):
            self.notes.append("no bundle: no commits after BUNDLE_BASE")
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return
        os.replace(tmp, path)
        self.bundle = "result.bundle"

    def finish(self, timeout_s, max_out):
        for step in (self.commit_leftovers, self.make_bundle):
            try:
                step()
            except Exception as e:  # git trouble must not lose the result
                self.notes.append(f"{step.__name__}: {e}")
                log("ERROR", self.notes[-1])
        ended = time.time()
        head = self.rev("HEAD") if self.git_ok else None
        result = {
            "state": self.state,
            "reason": self.reason,
            "cli_exit_code": self.cli_exit,
            "started_at": now_rfc3339(self.started),
            "ended_at": now_rfc3339(ended),
            "duration_ms": int((ended - self.started) * 1000),
            "head": head,
            "base": self.bundle_base or self.start_head,
            "start_head": self.start_head,
            "branch": self.task_branch if self.git_ok else None,
            "committed_leftovers": self.committed,
            "bundle": self.bundle,
            "output_bytes": self.out_bytes,
            "output_capped": self.state == "output_capped",
            "session_id": self.session_id,
            "timeout_s": timeout_s,
            "max_output_size": max_out,
            "notes": self.notes,
        }
        if self.last_result is not None:
            for k in ("num_turns", "total_cost_usd", "terminal_reason", "api_error_status"):
                if k in self.last_result:
                    result["cli_" + k] = self.last_result[k]
        write_atomic(os.path.join(self.task_dir, "result.json"), json.dumps(result, indent=2) + "\n")
        write_atomic(os.path.join(self.task_dir, "state"), self.state + "\n")
        log("INFO", f"task {self.session_id}: {self.state}" + (f" ({self.reason})" if self.reason else ""))
        return EXIT_CODES[self.state]


def pool_wait(task):
    """A pool container: starts the CLI ahead, says "ready", waits for the claim. False when it
    cannot serve (its CLI ended, or it was told to stop)."""
    claim = os.path.join(task.task_dir, "claim.json")
    task.git_ok = os.path.exists(os.path.join(task.workspace, ".git"))
    write_atomic(os.path.join(task.task_dir, "state"), "warming\n")
    p = subprocess.Popen(task.cli_argv(stream_input=True), cwd=task.workspace, env=task.cli_env(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    task.prestarted = (p, task.model, task.permission_mode)
    write_atomic(os.path.join(task.task_dir, "state"), "ready\n")
    log("INFO", "pool: the CLI is started; waiting for a task")
    while not os.path.exists(claim):
        if task.cancel.is_set() or p.poll() is not None:
            log("WARN", "pool: the CLI ended before a task came" if p.poll() is not None else "pool: stopped")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            write_atomic(os.path.join(task.task_dir, "state"), "gone\n")
            return False
        time.sleep(0.01)
    with open(claim, "rb") as f:
        settings = json.loads(f.read(1 << 20))
    for k, v in settings.items():
        if isinstance(k, str) and isinstance(v, str):
            os.environ[k] = v
    env = os.environ
    task.started = time.time()
    task.session_id = env.get("SESSION_ID") or task.session_id
    task.task_branch = env.get("TASK_BRANCH") or f"agentdock/task-{task.session_id}"
    task.bundle_base = env.get("BUNDLE_BASE") or None
    task.model = env.get("MODEL") or None
    task.permission_mode = env.get("PERMISSION_MODE") or "bypassPermissions"
    if task.git_ok:
        # the clone's branch becomes the task's (the CLI saw it by its pool name)
        task.git("branch", "-m", task.task_branch, check=False)
    log("INFO", f"pool: claimed by task {task.session_id}")
    return True


def number(name, default, conv):
    v = os.environ.get(name)
    if v is None or v.strip() == "":
        return default
    try:
        return conv(v)
    except ValueError:
        raise ValueError(f"{name}={v!r} is not a number")


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return 0
    task = Task()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, task.on_signal)
    if _early_signals or os.environ.get("AGENTDOCK_TASK_CANCELLED"):
        log("INFO", "cancelled while starting")
        task.cancel.set()
    if os.environ.get("AGENTDOCK_POOL") == "1":
        try:
            if not pool_wait(task):
                return EXIT_CODES["failed"]
        except Exception as e:
            log("ERROR", f"pool: {e}")
            return EXIT_CODES["failed"]
    try:
        os.makedirs(task.task_dir, exist_ok=True)
        for stale in ("result.json", "result.bundle"):
            try:
                os.unlink(os.path.join(task.task_dir, stale))
            except FileNotFoundError:
                pass
        write_atomic(os.path.join(task.task_dir, "state"), "running\n")
    except OSError as e:
        log("ERROR", f"task dir {task.task_dir} is not writable: {e}")
        return EXIT_CODES["failed"]
    timeout_s, max_out = 300.0, 10485760
    try:
        timeout_s = number("TIMEOUT", 300.0, float)
        max_out = number("MAX_OUTPUT_SIZE", 10485760, int)
        prompt = task.read_prompt()
        if not prompt.strip():
            raise ValueError("no prompt: set TASK_FILE or TASK")
        task.prepare_workspace()
        if task.cancel.is_set():
            task.state, task.reason = "cancelled", "cancelled before the CLI started"
        else:
            task.run_cli(prompt, timeout_s, max_out)
    except Exception as e:
        if task.cancel.is_set():
            task.state, task.reason = "cancelled", f"cancelled ({e})"
        else:
            task.state, task.reason = "failed", str(e)
        log("ERROR", task.reason)
    return task.finish(timeout_s, max_out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
