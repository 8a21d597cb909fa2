"""Get a dask.distributed client: the caller's, one at an address, or a local cluster.

The local cluster runs one single-threaded worker process per core (the
solver holds the GIL in autograd's Python code, so threads would not help),
and binds its scheduler and dashboard to 127.0.0.1 so that nothing listens on
the network unless the user starts a cluster that does.

Runs in several threads of one process leave its dask settings, warnings
filters and loggers as they found them: a client started here is not the
process's default, and what is set for a while is set under a lock. Before,
two runs that overlapped left dask's ``scheduler`` set to a client that had
closed, and the caller's own ``compute()`` then failed (found by a probe).
"""

import contextlib
import hashlib
import importlib
import logging
import os
import signal
import socket
import threading
import traceback
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import dask
from dask.system import CPU_COUNT
from distributed import Client, LocalCluster
from distributed.comm.addressing import parse_address, parse_host_port, unparse_host_port
from distributed.comm.registry import backends
from distributed.system import MEMORY_LIMIT

from ._version import __version__
from .arguments import check_int
from .processstate import PROCESS_STATE_LOCK, kept_until_the_last_ends

__all__ = ["CLUSTER_CONFIG", "NANNY_VARIABLES", "WORKER_MALLOC", "WORKER_MEMORY", "check_cluster_options",
           "check_n_workers", "check_scheduler", "check_worker_versions", "connect", "dashboard_line",
           "give_back_environment", "local_cluster", "nanny_environment", "threads", "worker_resources", "workers"]

logger = logging.getLogger(__name__)

#: glibc malloc settings of the local cluster's workers. dask's nannies set a
#: 64 KiB trim threshold, which also makes glibc map every array of 128 KiB or
#: more afresh and unmap it when freed, and the kernel then zeroes its pages
#: on first touch: a 1136² tile solve took 2.3 s in a worker, 1.2 s of it in
#: the kernel, and 1.2 s once tile-sized arrays are kept on the heap. Arrays
#: up to 32 MiB are, glibc's largest mmap threshold on 64-bit systems, which
#: each worker sets once it solves a tile (``pipeline._keep_arrays_on_the_heap``);
#: more than 64 MiB of free heap is still returned to the system.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": 64 * 2**20, "MALLOC_TRIM_THRESHOLD_": 64 * 2**20}
#: dask settings of the local cluster, for its scheduler and workers alike;
#: on two cores, two busy workers pay for whatever else runs.
#:
#: * dask's statistical profiler samples each worker's stack every 10 ms:
#:   beside a solve it took 5.2% of a core where the worker's other threads
#:   take 1.9% without it, and the solve ran 1% slower for the hand-overs of
#:   the GIL (measured). The dashboard's Profile page stays empty; its other
#:   pages, progress and task stream among them, do not.
#: * The system monitor samples CPU and memory for the dashboard every 2 s,
#:   not every 0.5 s: the process that holds the scheduler and the nannies
#:   then took 2.3% of a core while two workers solved, not 3.9%.
CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.interval": "2s"}
#: The memory of a worker process and its nanny before they solve anything: the worker alone took 147 MB after
#: tiledeblur's imports (measured).
WORKER_MEMORY = 256 * 2**20
#: The loggers that :func:`connect` quiets while it closes what it started;
#: dask's configuration gives ``distributed.client`` a level of its own.
SHUTDOWN_LOGGERS = ("distributed", "distributed.client")
#: For each kind of block that changes this process's state: how many are open, and what the first kept (see
#: :func:`~tiledeblur.processstate.kept_until_the_last_ends`).
_closing = {"count": 0, "kept": None}
_open_clusters = {"count": 0, "kept": None}


def check_n_workers(n_workers):
    """Refuse a local cluster's worker count that is not None or a positive int, or more than memory holds.

    Each worker process takes ``WORKER_MEMORY`` before it solves anything;
    a million were asked of ``LocalCluster`` (found by a probe).

    Examples
    --------
    >>> check_n_workers(0)
    Traceback (most recent call last):
    ...
    ValueError: n_workers: expected at least 1, got 0 instead.
    """
    if n_workers is None:
        return
    if check_int("n_workers", n_workers, expected="None or an int") < 1:
        raise ValueError(f"n_workers: expected at least 1, got {n_workers} instead.")
    if n_workers > MEMORY_LIMIT // WORKER_MEMORY:
        raise ValueError(f"n_workers: expected at most {MEMORY_LIMIT // WORKER_MEMORY}, the worker processes that "
                         f"this machine's {MEMORY_LIMIT / 2**30:.1f} GiB hold at {WORKER_MEMORY // 2**20} MiB each "
                         f"before any tile, got {n_workers} instead.")


@contextlib.contextmanager
def connect(*, client=None, address=None, n_workers=None):
    """Yield a client; close only what this call started.

    Parameters
    ----------
    client : distributed.Client, optional
        Used as is, and left open.
    address : str, optional
        A running scheduler, such as ``"tcp://10.0.0.5:8786"``.
    n_workers : int, optional
        Workers of the local cluster; defaults to the number of cores.
    """
    with _sync_cancel_bug_hidden():
        if client is not None:
            yield client
            return
        if address is not None:
            check_scheduler(address)
        with _started_client(address, n_workers) as started:
            yield started


def _not_the_sync_cancel_bug(record):
    """False for the traceback that distributed's ``sync`` logs when Ctrl-C comes before its call has begun.

    On Ctrl-C, ``sync`` asks the IO loop to cancel the call it waits on; when
    the call has not begun, its cancel raises a ``NameError`` (distributed
    2026.8, ``distributed/utils.py``), and the IO loop logs that traceback
    under ``tornado.application``. Nothing is lost: the Ctrl-C goes on as
    usual. A run polls its tiles with such calls, so one Ctrl-C in some dozens
    hit the window (found by CI).
    """
    if record.exc_info is None or not isinstance(record.exc_info[1], NameError):
        return True
    last = traceback.extract_tb(record.exc_info[2])[-1]
    return not (last.name == "cancel" and Path(last.filename).match("distributed/utils.py"))


@contextlib.contextmanager
def _sync_cancel_bug_hidden():
    """Leave out :func:`_not_the_sync_cancel_bug`'s traceback while the block runs."""
    logger = logging.getLogger("tornado.application")
    logger.addFilter(_not_the_sync_cancel_bug)
    try:
        yield
    finally:
        logger.removeFilter(_not_the_sync_cancel_bug)


@contextlib.contextmanager
def _started_client(address, n_workers):
    """A client of the scheduler at ``address``, or of a new local cluster; closed quietly."""
    started = cluster = None
    with contextlib.ExitStack() as stack:
        try:
            with _stop_signals_ignored():
                cluster = address
                if address is None:
                    stack.enter_context(_environment_restored())  # entered first, to be restored last
                    cluster = stack.enter_context(local_cluster(n_workers))
                started = stack.enter_context(_client(cluster, address))
            yield started
        except KeyboardInterrupt:
            if isinstance(cluster, LocalCluster):
                _quiet_workers(cluster)
            raise
        finally:
            # A second Ctrl-C while the cluster closed left its scheduler running in this process, holding
            # its ports, for good (found by a probe): so the close, like the start, ignores them.
            with _shutdown_loggers_quiet(), _stop_signals_ignored():
                stack.close()


def _shutdown_loggers_quiet():
    """Quiet ``SHUTDOWN_LOGGERS`` while the block runs, and give them back their levels when the last such block ends.

    Closing a cluster whose workers are busy warns of every task it cancels
    and of every worker it has to kill, and a client that lost its scheduler
    logs its reconnection's end: noise after a Ctrl-C, a failed tile or a
    lost scheduler, whose tiles a rerun resumes, and after a finished run on
    a loaded machine, whose workers took over 4 s to stop (found by a
    probe).
    """

    def quieted():
        levels = {name: logging.getLogger(name).level for name in SHUTDOWN_LOGGERS}
        for name in SHUTDOWN_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        return levels

    def given_back(levels):
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)

    return kept_until_the_last_ends(_closing, quieted, given_back)


#: What a nanny sets in this process beside its settings' variables: a hash seed for its workers to share, unless
#: one is set, and this process's id, for its children to name themselves (found by a test: the caller's later
#: subprocesses got a fixed hash seed).
NANNY_VARIABLES = ("PYTHONHASHSEED", "__DASK_PARENT_PID")


def _environment_restored():
    """Give this process back the environment variables that local clusters' nannies set, once the last closes.

    A nanny sets ``distributed.nanny.pre-spawn-environ`` (``OMP_NUM_THREADS=1``
    and the other thread counts, a malloc threshold) in the process that
    spawns its workers, for them to inherit, and leaves them there: after a
    run, the caller's own subprocesses started with one BLAS thread each
    (found by a probe). It also sets :data:`NANNY_VARIABLES`.
    """
    return kept_until_the_last_ends(_open_clusters, nanny_environment, give_back_environment)


def nanny_environment():
    """This process's values (None where unset) of the variables that local clusters' nannies set in it.

    Examples
    --------
    >>> "OMP_NUM_THREADS" in nanny_environment() and "PYTHONHASHSEED" in nanny_environment()
    True
    """
    names = {*dask.config.get("distributed.nanny.pre-spawn-environ", {}), *WORKER_MALLOC, *NANNY_VARIABLES}
    return {name: os.environ.get(name) for name in names}


def give_back_environment(environ):
    """Set this process's variables to the values of ``environ``, as :func:`nanny_environment` gave them.

    Examples
    --------
    >>> kept = nanny_environment()
    >>> os.environ["OMP_NUM_THREADS"] = "3"
    >>> give_back_environment(kept)
    >>> os.environ.get("OMP_NUM_THREADS") == kept["OMP_NUM_THREADS"]
    True
    """
    for name, value in environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _quiet_workers(cluster):
    """Pass a Ctrl-C on to ``cluster``'s worker processes, whose :func:`dask_setup` handler silences them.

    A Ctrl-C sent to this process alone (an editor's interrupt, ``kill -INT``),
    not to its process group as a terminal's is, left the workers to log their
    heartbeats' failures with tracebacks as the cluster closed (found by a
    probe, in one run of six). A worker that has it already takes it again.
    """
    for nanny in list(cluster.workers.values()):
        pid = getattr(getattr(nanny, "process", None), "pid", None)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)


def _client(cluster, address):
    """``Client(cluster)``; where that is the scheduler at ``address``, failing to reach it names ``address``.

    Found by a probe: a ``tls://`` address without TLS settings, and a
    ``ws://`` one given for a scheduler that speaks tcp, ended with dask's
    words, which name no option, the second after 30 s as an ``OSError``.
    """
    if address is None:
        return Client(cluster, set_as_default=False)
    client = Client.__new__(Client)
    try:
        client.__init__(address, set_as_default=False)
        return client
    except (OSError, ValueError, TypeError) as error:
        # Closed here: collected at exit, it waited 60 s to close its connection that never was (found by a probe).
        client.close()
        raise ValueError(f"address: expected a dask scheduler that this process can reach, got {address!r}, "
                         f"which it could not ({str(error).rstrip('.')}).") from None


#: The signals that stop a run: Ctrl-C, and a batch system's end of a job's time.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_signals_ignored():
    """Ignore Ctrl-C and SIGTERM while the block runs, as the worker processes it starts do until :func:`dask_setup`.

    It guards the start and the close of a cluster.

    A cluster interrupted while it starts is closed half made, with tracebacks
    from its exit handlers and from workers still importing (found by a
    probe, and by another for SIGTERM). A child process keeps an ignored
    signal ignored, whichever thread starts it; a handler it would not keep,
    and a held signal its thread would not pass on (dask's IO loop thread
    starts the workers). So neither does anything for the second or two that
    a local cluster takes to start. Only the main thread can set signal
    handlers.
    """
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    if threading.current_thread() is not threading.main_thread() or None in previous.values():  # None: set in C
        yield
        return
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def check_scheduler(address):
    """Refuse an address where no dask scheduler answers, instead of waiting on it for ever.

    A dask scheduler sends its handshake as soon as it accepts a connection.
    Other servers wait for the client to speak first, and
    ``distributed.Client`` then waits for ever: on a dashboard's port (8787
    given for 8786) it hung for minutes in a test here. Only ``tcp://``
    addresses are probed; the wait is dask's connect timeout.

    Examples
    --------
    >>> check_scheduler("no-port")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: address: expected a dask scheduler's address such as 'tcp://10.0.0.5:8786', got 'no-port' ...
    >>> check_scheduler("10.0.0.5:99999")
    Traceback (most recent call last):
    ...
    ValueError: address: expected a port from 1 to 65535, got '10.0.0.5:99999' instead.
    """
    if not isinstance(address, str):
        raise TypeError(f"address: expected a str such as 'tcp://10.0.0.5:8786', got {address!r} instead.")
    # Found by a probe: a leading space, pasted with the address, was told of as an unknown scheme.
    if address != address.strip():
        raise ValueError(f"address: expected a dask scheduler's address such as 'tcp://10.0.0.5:8786', with no "
                         f"spaces around it, got {address!r} instead.")
    scheme, _, rest = address.rpartition("://")
    scheme = scheme.lower()
    # Found by a probe: a dashboard's link, copied from a browser, was refused in int()'s words.
    if scheme in ("http", "https"):
        raise ValueError(f"address: expected a dask scheduler's address such as 'tcp://10.0.0.5:8786', got "
                         f"{address!r} instead, a web address such as a dashboard's, which is not the scheduler's.")
    if scheme in ("", "tcp", "tls") and "/" in rest:  # inproc's addresses have slashes
        raise ValueError(f"address: expected a dask scheduler's address such as 'tcp://10.0.0.5:8786', with no path, "
                         f"got {address!r} instead.")
    scheme, location = parse_address(address)
    # The scheme first: 'foo://bar' was told that its port was missing (found by a probe).
    if scheme not in backends:
        raise ValueError(f"address: expected a scheme that dask connects with ({', '.join(sorted(backends))}), got "
                         f"{address!r} instead.")
    if scheme == "inproc":  # a scheduler in this process, named by no host and port
        return
    try:
        host, port = parse_host_port(location)
    except ValueError as error:
        raise ValueError(f"address: expected a dask scheduler's address such as 'tcp://10.0.0.5:8786', "
                         f"got {address!r} instead ({error}).") from None
    if scheme != "tcp":
        return
    if not 0 < port < 2**16:
        raise ValueError(f"address: expected a port from 1 to 65535, got {address!r} instead.")
    timeout = dask.utils.parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
    try:
        with socket.create_connection((host, port), timeout=timeout) as probe:
            answered = bool(probe.recv(1))
    except TimeoutError:
        answered, reason = False, f"silent for {timeout:g} s"
    except socket.gaierror as error:  # before any connection: no other server can be the cause
        raise ValueError(f"address: expected a running dask scheduler, got {address!r}, whose host is not known "
                         f"({error}).") from None
    except OSError as error:  # refused or unreachable: no server there, so no dashboard either (found by a probe)
        raise ValueError(f"address: expected a running dask scheduler, got {address!r}, where none answered "
                         f"({str(error) or type(error).__name__}).") from None
    else:
        reason = "it closed the connection"
    if not answered:
        raise ValueError(f"address: expected a running dask scheduler, got {address!r}, where none answered "
                         f"({reason}); a dashboard's port (8787) is not the scheduler's.")


def local_cluster(n_workers=None, *, dashboard_address="127.0.0.1:8787"):
    """Start the local cluster that :func:`tiledeblur.run` uses when given no client.

    Its workers are single-threaded processes on 127.0.0.1, spawned with
    :data:`WORKER_MALLOC` in their environment, and the cluster runs with
    :data:`CLUSTER_CONFIG`. The workers leave Ctrl-C to this process
    (:func:`dask_setup`).

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; defaults to the number of cores.
    dashboard_address : str
        Where the dashboard listens; port 0 picks a free one.

    Returns
    -------
    distributed.LocalCluster
        Started; close it, or use it as a context manager.

    Examples
    --------
    >>> import os
    >>> from distributed import Client
    >>> with local_cluster(1, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
    ...     environ = next(iter(client.run(lambda: dict(os.environ)).values()))
    ...     profiled = next(iter(client.run(dask.config.get, "distributed.worker.profile.enabled").values()))
    >>> environ["MALLOC_TRIM_THRESHOLD_"] == str(WORKER_MALLOC["MALLOC_TRIM_THRESHOLD_"]), profiled
    (True, False)
    """
    check_n_workers(n_workers)  # 0 started the default, -1 none, and True one (found by a probe)
    # The scheduler reads its settings when it starts, in this process. The
    # nannies copy theirs when they are created and hand them to every worker
    # they spawn, restarted ones included: glibc reads its environment only at
    # start-up. (Workers must get CLUSTER_CONFIG as the nannies' `config`: the
    # nannies keep references to the settings that the exit of this context
    # restores.)
    settings = {f"distributed.nanny.pre-spawn-environ.{name}": value for name, value in WORKER_MALLOC.items()}
    with PROCESS_STATE_LOCK, dask.config.set({**settings, **CLUSTER_CONFIG}), warnings.catch_warnings():
        # dask warns when the dashboard's port is taken and it picks another (the port may be taken between the
        # check below and dask's own try); run prints the link it picked.
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        return LocalCluster(
            n_workers=CPU_COUNT if n_workers is None else n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=_untaken(dashboard_address),
            config=CLUSTER_CONFIG,
            preload=[__name__],
        )


def _untaken(address):
    """``address``, or its host with port 0, which picks a free one, where something already listens on its port.

    dask tries a taken port before it picks another, and tornado leaves the
    socket of that try open: a ResourceWarning when it is collected, which
    failed a test run with ``-W error`` (found by a test: a second cluster in
    one process, the first holding 8787).

    Examples
    --------
    >>> with socket.create_server(("127.0.0.1", 0)) as taken:
    ...     port = taken.getsockname()[1]
    ...     _untaken(f"127.0.0.1:{port}")
    '127.0.0.1:0'
    >>> _untaken("127.0.0.1:0")
    '127.0.0.1:0'
    """
    host, port = parse_host_port(address)
    if port == 0:
        return address
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        with socket.socket(family) as probe:
            # As tornado binds: a port left in TIME_WAIT by a closed dashboard is free to it.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError:
        return unparse_host_port(host, 0)
    return address


def dask_setup(worker):
    """Leave stopping and reporting to the process that holds the local cluster; dask calls this in each worker.

    Ctrl-C reaches every process of the terminal's group, and a batch
    system's SIGTERM every process of the job. The workers' own shutdown on
    Ctrl-C printed a traceback from each, on top of the one line of the
    process that holds the cluster, which closes them anyway; and a worker
    that died of SIGTERM was restarted by its nanny as the cluster closed,
    and the new one logged its lost scheduler. So they keep running until
    their nannies stop them, through a queue or with SIGKILL. And a tile
    that fails is reported by :func:`tiledeblur.run`, with the worker's
    traceback chained to its ``TileError``: the worker's log of it added
    some 3 KB per tile to the terminal, hundreds of times over when a disk
    filled (found by a probe).
    """
    for number in STOP_SIGNALS:
        signal.signal(number, _quiet_until_closed)
    logging.getLogger("distributed.worker").addFilter(_not_a_failed_task)
    # It warns of each task cancelled as the cluster closes, after Ctrl-C or SIGTERM sent to the driver alone.
    logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)


def _not_a_failed_task(record):
    """False for a worker's log of a task that raised."""
    return not str(record.msg).startswith("Compute Failed")


def _quiet_until_closed(signal_number, frame):
    """Keep a worker running on Ctrl-C or SIGTERM, silent about what the cluster's closing does to it.

    Silent of errors too: a worker whose scheduler closed before its nanny
    stopped it logged the failure of its heartbeat, with a traceback (in one
    run of five).
    """
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def result_of(client, collection):
    """The result of ``collection`` computed on ``client``, whose tasks are cancelled however the wait ends.

    A Ctrl-C in the wait left them running on a user's own cluster, reading
    the whole input, for as long as a notebook kept the interrupt (found by
    a probe).
    """
    future = client.compute(collection)
    try:
        return future.result()
    finally:
        future.cancel()


def dashboard_line(client):
    """``"dask dashboard: LINK"``, or that the scheduler serves none.

    A scheduler started with ``--no-dashboard`` still names a link, from its
    HTTP server, which answers 404 (found by a probe). A link that cannot be
    reached from here (a tunnel, a proxy's relative path) is shown as given.
    """
    try:
        link = client.dashboard_link
    except KeyError:  # a scheduler that runs no HTTP server at all
        link = None
    if link is None or _answers_not_found(link):
        return ("dask dashboard: none; the scheduler serves no dashboard (started with --no-dashboard, or without "
                "bokeh)")
    return f"dask dashboard: {link}"


def _answers_not_found(link):
    """Whether ``link`` answers 404; asked by HEAD, which the dashboard refuses (405) without opening a session."""
    try:
        urllib.request.urlopen(urllib.request.Request(link, method="HEAD"), timeout=2).close()
    except urllib.error.HTTPError as error:
        return error.code == 404
    except (OSError, ValueError):
        return False
    return False


def workers(client):
    """Every worker of ``client``'s cluster, by address, as the scheduler describes it.

    Asked for by number: from distributed 2025.4 to 2026.6,
    ``scheduler_info()`` listed only five workers unless asked for all (found
    by a probe: a run on 24 workers kept 20 tiles in flight).
    """
    return client.scheduler_info(n_workers=-1)["workers"]


def check_worker_versions(client, *, name):
    """Refuse a cluster whose workers import another tiledeblur than this process does, or none.

    A worker solves its tiles with its own tiledeblur. One of another version,
    or of the same version from other sources (another checkout, an edited
    copy), may write other bytes under this version's name in the output's
    metadata, which a resume then trusts; one without it fails every tile it
    takes, each with an import error. The local cluster's workers share this
    process's environment; those of a scheduler at an address, or of a
    ``client``, need not (a rolling upgrade, a stale image). Workers that join
    later are not asked.

    Parameters
    ----------
    client : distributed.Client
    name : str
        The option that chose the cluster, for the message.
    """
    def imported():
        # A nested function travels by value: one of this module would be looked up in the worker's, which an older
        # version lacks. The version alone stays the same across a checkout's commits.
        package = importlib.import_module("tiledeblur")
        # Not dot-files: an editor's lock (Emacs's .#cluster.py) is a link to nowhere (found by a probe).
        sources = sorted(path for path in Path(package.__file__).parent.glob("*.py") if not path.name.startswith("."))
        return package.__version__, hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()

    own = imported()
    found = client.run(imported, on_error="return")
    others = {worker: got for worker, got in found.items() if got != own}
    if others:
        worker, got = min(others.items())
        if isinstance(got, BaseException):
            described = f"none ({got})"
        elif got[0] == __version__:
            described = f"tiledeblur {__version__} from other source files (another checkout, or an edited copy)"
        else:
            described = f"tiledeblur {got[0]}"
        raise ValueError(f"{name}: expected a cluster whose workers import tiledeblur {__version__}, as this process "
                         f"does, got {len(others)} of {len(found)} workers that do not, such as {worker}, which "
                         f"imports {described}.")


def threads(described):
    """The threads of the ``described`` workers together: the tiles that they solve at once."""
    return sum(worker.get("nthreads", 1) for worker in described.values())


def _smallest_limit(described):
    """The smallest memory limit per thread in bytes among the ``described`` workers that have one; None when none has.

    Each thread of a worker solves a tile of its own (found by a probe: four
    tiles that fit a 1.4 GB worker one at a time failed on its four threads,
    unwarned). One unlimited worker must not make the others' limits count
    for nothing (found by a probe): any tile may run on any worker.
    """
    limits = [(worker.get("memory_limit") or 0) // max(1, worker.get("nthreads", 1)) for worker in described.values()]
    return min((limit for limit in limits if limit > 0), default=None)


def worker_resources(client, n_workers):
    """``(memory limit per thread, threads)`` of ``client``'s workers, or of the local cluster :func:`connect` would start.

    The local cluster counts the cores and memory that this process may use
    (CPU affinity and cgroup limits, as a batch system's allocation sets
    them), not the machine's; its workers have one thread each.
    """
    if client is None:
        count = n_workers or CPU_COUNT
        return MEMORY_LIMIT // count, count
    described = workers(client)  # one round trip to the scheduler
    return _smallest_limit(described), threads(described)


def check_cluster_options(*, client, address, n_workers):
    """Refuse a cluster choice that contradicts itself, before anything starts."""
    check_n_workers(n_workers)
    if client is not None and address is not None:
        raise ValueError(f"address: expected None when a client is given, got {address!r} instead.")
    if n_workers is not None and (client is not None or address is not None):
        # The workers are the cluster's own; a count that would be ignored is refused instead.
        raise ValueError(f"n_workers: expected no count with a client or an address, whose cluster has its own "
                         f"workers, got {n_workers!r} instead.")
    if client is not None and not isinstance(client, Client):
        advice = "; pass a scheduler's address as address=" if isinstance(client, str) else ""
        raise TypeError(f"client: expected None or a distributed.Client, got {client!r} instead{advice}.")
    if client is not None and client.asynchronous:
        # Its calls return coroutines, which run() cannot await (found by a probe: an AttributeError deep inside).
        raise TypeError("client: expected a synchronous distributed.Client, got an asynchronous one; create the "
                        "client without asynchronous=True (run() blocks until the output is written).")
    if client is not None and client.status != "running":
        raise ValueError(f"client: expected a running distributed.Client, got one whose status is {client.status!r}.")
