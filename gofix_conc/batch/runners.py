"""Where units run: a local process pool, or a Dask distributed cluster.

Both submit :func:`~gofix_conc.batch.unit.run_unit` over :class:`UnitSpec`
and yield ``(spec, UnitResult)`` as units finish, keeping only as many units
in flight as there are workers (so "running" means running, and Ctrl-C has
little to cancel). A worker that dies has its unit run again, at most
``retries`` more times; after that the unit is recorded as failed
(``worker-died``) and the campaign goes on. Neither runner writes anything:
the caller owns the state.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from gofix_conc.batch.model import CRASH, WORKER_DIED, UnitResult, UnitSpec
from gofix_conc.batch.unit import run_unit

OnStart = Callable[[UnitSpec], None]


class Runner:
    name = "runner"
    workers = 1
    shares_disk = True  # workers see the client's files (mirrors, campaign workspaces)

    def run(self, specs: list[UnitSpec], on_start: OnStart) -> Iterator[tuple[UnitSpec, UnitResult]]:
        raise NotImplementedError

    @property
    def running(self) -> int:
        return 0

    def close(self, kill: bool = False) -> None:
        pass


def _worker_init() -> None:
    # Ctrl-C at a terminal reaches every process of the group: only the client decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalRunner(Runner):
    name = "local"

    def __init__(self, jobs: int, retries: int = 2, secrets: dict[str, str] | None = None) -> None:
        self.workers = max(1, jobs)
        self.secrets = secrets
        self.retries = retries
        self._pool: ProcessPoolExecutor | None = None
        self._inflight: dict[Future[UnitResult], UnitSpec] = {}

    @property
    def running(self) -> int:
        return len(self._inflight)

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: the client has threads (progress display); forking those is unsafe
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)

    def run(self, specs: list[UnitSpec], on_start: OnStart) -> Iterator[tuple[UnitSpec, UnitResult]]:
        queue = list(reversed(specs))
        lost: Counter[str] = Counter()
        started: set[str] = set()
        self._pool = self._new_pool()
        while queue or self._inflight:
            while queue and len(self._inflight) < self.workers:
                spec = queue.pop()
                if spec.key not in started:
                    started.add(spec.key)
                    on_start(spec)
                try:
                    self._inflight[self._pool.submit(run_unit, spec, self.secrets)] = spec
                except BrokenProcessPool:
                    queue.append(spec)
                    self._replace_pool()
            done, _ = wait(list(self._inflight), return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                spec = self._inflight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as err:
                    broken = True
                    lost[spec.key] += 1
                    if lost[spec.key] <= self.retries:
                        queue.append(spec)
                        continue
                    result = UnitResult.failure(
                        spec.key, WORKER_DIED, f"a worker process died {lost[spec.key]} times: {err}"
                    )
                except Exception as err:  # run_unit itself never raises; pickling can
                    result = UnitResult.failure(spec.key, CRASH, f"{type(err).__name__}: {err}")
                yield spec, result
            if broken:
                self._replace_pool()
        self._pool.shutdown()
        self._pool = None

    def _replace_pool(self) -> None:
        # every unit of a broken pool is lost with it: they go back in the queue through their futures
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self, kill: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            # The pool cannot stop a running task: end its workers; each unit's process group follows
            # (the unit's watchdog sees its parent go).
            for process in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()
        pool.shutdown(wait=not kill, cancel_futures=True)
        self._inflight.clear()


class DaskRunner(Runner):
    """Units as tasks on a Dask distributed cluster: ``tcp://HOST:PORT`` or ``local:N`` (a LocalCluster)."""

    name = "dask"

    def __init__(self, scheduler: str, retries: int = 2, secrets: dict[str, str] | None = None) -> None:
        self.secrets = secrets
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise RuntimeError("--scheduler needs Dask distributed: pip install 'gofix-conc[dask]'") from None
        self.cluster = None
        self.retries = retries
        if scheduler.startswith("local:"):
            workers = int(scheduler.removeprefix("local:") or os.cpu_count() or 1)
            # The scheduler of a LocalCluster lives in this process: the bound on reruns is ours to set.
            with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
                self.cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            self.client = Client(self.cluster)
            self.shares_disk = True
        else:
            self.client = Client(scheduler, timeout="30s")
            self.shares_disk = False
        self._inflight: dict[object, UnitSpec] = {}

    @property
    def workers(self) -> int:  # type: ignore[override]
        return max(1, sum(self.client.nthreads().values()))

    @property
    def running(self) -> int:
        return len(self._inflight)

    def run(self, specs: list[UnitSpec], on_start: OnStart) -> Iterator[tuple[UnitSpec, UnitResult]]:
        import uuid

        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        queue = list(reversed(specs))
        completed = as_completed()
        run_id = uuid.uuid4().hex[:8]

        def submit() -> None:
            window = self.workers + 1  # one spare keeps a freed worker busy while the client records
            while queue and len(self._inflight) < window:
                spec = queue.pop()
                on_start(spec)
                # retries: a unit the scheduler gave up on (KilledWorker) is not rerun by Dask's task retries
                future = self.client.submit(
                    run_unit, spec, self.secrets, key=f"gofix-unit-{spec.key[:16]}-{run_id}", pure=False
                )
                self._inflight[future] = spec
                completed.add(future)

        submit()
        for future in completed:
            spec = self._inflight.pop(future)
            try:
                result = future.result()
            except KilledWorker as err:
                result = UnitResult.failure(
                    spec.key, WORKER_DIED, f"workers died while running it {self.retries + 1} times: {err}"
                )
            except Exception as err:
                result = UnitResult.failure(spec.key, CRASH, f"{type(err).__name__}: {err}")
            future.release()
            yield spec, result
            submit()

    def close(self, kill: bool = False) -> None:
        with contextlib.suppress(Exception):
            if self._inflight:
                self.client.cancel(list(self._inflight), force=True)
        self._inflight.clear()
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
