"""One protocol for work in a child process: the supervised engine, the trial of a ruleset folder
and the pages' run of the cases all use it.

durable-rules is C code that can crash the whole process on some rule shapes (a Python ``try``
cannot catch a segmentation fault), so work that runs the engine on rules or facts not yet proven
safe runs in a child. The child is started with ``spawn`` (a fresh interpreter: no thread or lock
of the parent is copied into it) and speaks over one pipe:

* at start it runs ``setup(*args)`` and answers ``("ready", None)``, or ``("failed", error)``
  with the DecisionError that setup raised;
* then, for each request, it calls the handler that setup returned with the request and a
  ``progress`` function, sends any number of ``("progress", payload)`` and ends with
  ``("answer", result)``. A handler that raises (a bug, not a crash) answers
  ``("error", EvaluationError)`` and the child goes on.

A child that dies or hangs raises ChildStopped in the parent, with its exit code; the caller says
what that means for its own work (a 503, a refused ruleset, a page that says so).

No child outlives its parent: a parent killed outright (SIGKILL, a gunicorn worker past its
timeout) cannot stop its children, and a child busy in C code never reads the pipe's end of
file. On Linux every child asks the kernel to kill it when its parent dies
(``PR_SET_PDEATHSIG``); elsewhere a thread of the child watches its parent's pid.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import DecisionError, EvaluationError

Progress = Callable[[Any], None]
Handler = Callable[[Any, Progress], Any]


class ChildStopped(Exception):
    """The child died (``exit_code`` set) or did not answer in time (``hung``)."""

    def __init__(self, message: str, exit_code: int | None = None, hung: bool = False):
        super().__init__(message)
        self.exit_code = exit_code
        self.hung = hung


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """End this process with ``sig`` when its parent (pid ``parent``) dies.

    Linux: ``prctl(PR_SET_PDEATHSIG)``, sent by the kernel, whatever this process is doing
    (even in C code that holds the GIL). The kernel sends it when the *thread* that forked this
    process ends, which is why ``Child`` starts every child from one thread that lasts as long
    as its process. A parent that died before the call is caught by comparing ``getppid``.
    Elsewhere, a daemon thread polls ``getppid`` every half second."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:  # pragma: no cover - the service runs on Linux
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os.kill(os.getpid(), sig)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # died before the kernel was told
        os.kill(os.getpid(), sig)


# The thread every child is started from (see die_with_parent): one per process, made again in
# a forked process (gunicorn workers), which does not inherit the threads of its parent.
_starter: ThreadPoolExecutor | None = None
_starter_pid: int | None = None
_starter_lock = threading.Lock()


def _start_from_lasting_thread(process: multiprocessing.process.BaseProcess) -> None:
    global _starter, _starter_pid
    with _starter_lock:
        if _starter is None or _starter_pid != os.getpid():
            _starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="child-starter")
            _starter_pid = os.getpid()
        starter = _starter
    starter.submit(process.start).result()


def _main(conn, setup: Callable[..., Handler], args: tuple, parent: int) -> None:
    die_with_parent(parent)

    def progress(payload: Any) -> None:
        conn.send(("progress", payload))

    try:
        handler = setup(*args)
    except DecisionError as exc:
        conn.send(("failed", exc))
        return
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent closed its end: nothing more to do
            return
        try:
            conn.send(("answer", handler(request, progress)))
        except Exception as exc:  # noqa: BLE001 - a bug in a handler, not a crash: answer it
            conn.send(("error", EvaluationError(f"the work failed in the child process: {exc}")))


class Child:
    """A child process running ``setup(*args)``'s handler; ``ask`` sends it one request.

    ``setup`` and everything in ``args`` must be picklable: a module-level function and plain
    data. Raises the setup's DecisionError if it failed, ChildStopped if the child died or did
    not get ready within ``start_timeout`` seconds."""

    def __init__(self, setup: Callable[..., Handler], args: tuple = (), *, name: str,
                 start_timeout: float | None = 120.0):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_main, name=name,
                                       args=(child, setup, args, os.getpid()), daemon=True)
        _start_from_lasting_thread(self.process)
        child.close()
        try:
            self._receive(start_timeout, None, "starting", expect="ready")
        except BaseException:
            self.close()
            raise

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def ask(self, request: Any, timeout: float | None = None,
            on_progress: Progress | None = None, deadline: float | None = None) -> Any:
        """Send a request; return the handler's answer. ``timeout`` bounds the wait for each
        message (a progress message restarts it); ``deadline`` bounds the wait for the answer,
        progress or not. Past either, the child is killed and ChildStopped (``hung``) raised."""
        try:
            self._conn.send(request)
        except (OSError, BrokenPipeError):
            raise self._stopped("receiving a request") from None
        return self._receive(timeout, on_progress, "working", expect="answer",
                             deadline=deadline)

    def _receive(self, timeout: float | None, on_progress: Progress | None, doing: str,
                 expect: str, deadline: float | None = None) -> Any:
        end = None if deadline is None else time.monotonic() + deadline
        while True:
            wait = timeout
            if end is not None:
                left = max(0.0, end - time.monotonic())
                wait = left if wait is None else min(wait, left)
            try:
                if wait is not None and not self._conn.poll(wait):
                    self.process.kill()
                    self.process.join(5)
                    limit = timeout if wait == timeout else deadline
                    raise ChildStopped(f"the child process did not answer in {limit:g} s "
                                       f"while {doing}", self.process.exitcode, hung=True)
                kind, payload = self._conn.recv()
            except (EOFError, OSError):
                raise self._stopped(doing) from None
            if kind == "progress":
                if on_progress is not None:
                    on_progress(payload)
            elif kind == expect:
                return payload
            else:  # "failed" at start, "error" for a request: the child's own DecisionError
                raise payload

    def _stopped(self, doing: str) -> ChildStopped:
        self.process.join(5)
        code = self.process.exitcode
        return ChildStopped(f"the child process stopped (exit code {code}) while {doing}", code)

    def close(self) -> None:
        """Close the pipe (the child then leaves its loop) and wait for it; kill it if it does
        not leave."""
        self._conn.close()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def run_in_child(setup: Callable[..., Handler], args: tuple, request: Any, *, name: str,
                 timeout: float | None, on_progress: Progress | None = None) -> Any:
    """Start a child, ask it one thing, and let it go: the one-shot form of ``Child``."""
    child = Child(setup, args, name=name, start_timeout=timeout)
    try:
        return child.ask(request, timeout, on_progress)
    finally:
        child.close()
