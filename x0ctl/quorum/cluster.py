"""Trials on a Dask distributed cluster (`--cluster dask://HOST:PORT`).

Each trial is one Dask task running `x0ctl.quorum.montecarlo.run_task` on a worker, which must
have the same x0ctl (and PQC backend) installed and, for `--adversary`, the adversary file at the
same path. A trial is a pure function of its task (the simulation is seeded), so where it runs
changes nothing: results are put back in task order and are identical to a local run.

A worker that dies mid-trial loses nothing: the scheduler runs the trial again on another worker
(up to its `allowed-failures` setting, 3 by default), and a trial that raised is retried
`TASK_RETRIES` times. Every trial is accounted for: a trial that still fails ends the run with an
error naming it, and the number of results is checked against the number of trials.

`distributed` is imported here only, and only when a cluster is asked for (the `cluster` extra).
"""

from __future__ import annotations

import re
import uuid

from x0ctl.errors import EnvironmentProblem, IOFailure, UsageError

SCHEME = "dask://"
CONNECT_TIMEOUT_S = 10
TASK_RETRIES = 2
_ADDRESS = re.compile(r"^dask://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})$")


def scheduler_address(cluster: str) -> str:
    """`dask://HOST:PORT` -> the scheduler's `tcp://HOST:PORT` (UsageError for anything else)."""
    match = _ADDRESS.match(cluster.strip())
    if match is None or not 0 < int(match["port"]) < 65536:
        raise UsageError(f"--cluster: expected dask://HOST:PORT, got {cluster!r}")
    return f"tcp://{match['host']}:{int(match['port'])}"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise EnvironmentProblem("--cluster needs the Dask client (package 'distributed')",
                                 hint="install x0ctl's 'cluster' extra: pip install 'x0ctl[cluster]'") from None
    return distributed


def connect(cluster: str):
    """A `distributed.Client` for the scheduler; IOFailure (exit 4) when it cannot be reached."""
    address = scheduler_address(cluster)
    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise IOFailure(f"cannot reach the Dask scheduler at {cluster}: {exc}") from None


def run_on_cluster(function, tasks: list, cluster: str, progress=None) -> list:
    """`function(task)` for every `Task` on the cluster (a module-level function the workers can
    import, such as `x0ctl.quorum.montecarlo.run_task`); results in task order.
    `progress(done, total)` is called as trials finish."""
    if not tasks:
        return []
    distributed = _distributed()
    client = connect(cluster)
    try:
        campaign = uuid.uuid4().hex[:12]
        futures = client.map(function, tasks, key=[f"x0ctl-quorum-{campaign}-{number}" for number in range(len(tasks))],
                             pure=False, retries=TASK_RETRIES)
        position = {future.key: number for number, future in enumerate(futures)}
        results: list = [None] * len(tasks)
        done = 0
        try:
            for future in distributed.as_completed(futures, loop=client.loop):
                number = position[future.key]
                try:
                    results[number] = future.result()
                except Exception as exc:  # a trial that failed on every attempt: the run cannot be complete
                    raise IOFailure(f"trial {number} (seed {tasks[number].scenario.seed}) failed on the Dask cluster "
                                    f"{cluster} after retries: {type(exc).__name__}: {exc}") from None
                done += 1
                if progress:
                    progress(done, len(tasks))
        finally:
            client.cancel([future for future in futures if not future.done()])
        completed = sum(1 for result in results if result is not None)
        if completed != len(tasks):  # as_completed yields every future once; this guards the accounting
            raise IOFailure(f"the Dask cluster {cluster} returned {completed} of {len(tasks)} trials")
        return results
    finally:
        client.close()
