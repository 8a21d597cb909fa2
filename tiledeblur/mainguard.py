"""Refuse to start a local cluster from a script whose worker processes would run its top level again.

A local cluster spawns its workers, and each imports the caller's script as
Python starts such a process: a call of :func:`tiledeblur.run` at the
script's top level, outside ``if __name__ == "__main__":``, would start a
cluster in every worker. :func:`check_main_guarded` reads the script's
source around the calls that lead to the run, and refuses the run with a
message that says how to guard it.
"""

import ast
import os
import sys
import threading
import time
from pathlib import Path

import dask

__all__ = ["check_main_guarded"]

#: When tiledeblur was imported: a script edited since may no longer match the code that runs (found by a probe).
_IMPORTED_AT = time.time()


def _is_main_guard(node):
    """Whether ``node`` is a test of ``__name__``, such as ``if __name__ == "__main__":``, in any form.

    Any test of it counts, the refusal's false positives being worse than
    its misses: a worker sees ``__name__`` as ``"__mp_main__"``.
    """
    if isinstance(node, ast.If):
        subject = node.test
    elif isinstance(node, ast.Match):
        subject = node.subject
    else:
        return False
    return any(isinstance(name, ast.Name) and name.id == "__name__" for name in ast.walk(subject))


def _main_script_lines(main):
    """The lines of ``main``'s script that the calls leading here stand on, or None where not from its own code.

    Code that the script runs through ``exec``, and a script edited since
    tiledeblur was imported, do not match its source (found by a probe).
    """
    path = os.path.abspath(main.__file__)
    # A thread's calls begin in its own function; the script's top level is where the main thread stands (found by
    # a probe: a thread that an unguarded script started passed).
    starts = [sys._getframe(2)]
    if threading.current_thread() is not threading.main_thread():
        starts.append(sys._current_frames().get(threading.main_thread().ident))
    lines = []
    for frame in starts:
        while frame is not None:
            if os.path.abspath(frame.f_code.co_filename) == path:
                lines.append(frame.f_lineno)
            if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
                break
            frame = frame.f_back
        if frame is not None:
            break
    if frame is None or not lines or os.path.abspath(frame.f_code.co_filename) != path:
        return None
    try:
        return None if os.stat(path).st_mtime > _IMPORTED_AT else (lines, Path(path).read_bytes())
    except OSError:
        return None


def check_main_guarded():
    """Refuse to start the local cluster from a script's top level outside ``if __name__ == "__main__":``.

    The cluster spawns its workers, and each imports the script again as
    Python starts such a process: without the guard each tried to start a
    cluster of its own, and the run ended in 500 lines of tracebacks and
    "Nanny failed to start" (found by a probe). A call counts as guarded
    where it, or a call of the script's own that leads to it, stands in a
    test of ``__name__``. Nothing is refused where the workers import
    nothing again: a notebook, ``python -c``, a package's ``__main__`` run
    with ``-m``, or dask set to fork its workers.

    A script read from standard input (``python - < script.py``) is
    refused, guarded or not: each worker looks for a file ``<stdin>`` to
    import, and the run ended in 70 lines of tracebacks and "Nanny failed to
    start" (found by a probe).

    Raises
    ------
    RuntimeError
    """
    main = sys.modules.get("__main__")
    module_name = getattr(getattr(main, "__spec__", None), "name", None)
    forks = dask.config.get("distributed.worker.multiprocessing-method") == "fork"
    if getattr(main, "__file__", None) == "<stdin>" and not forks:
        raise RuntimeError("run: called from a script read from standard input, whose worker processes would look "
                           "for it in a file named '<stdin>': save the script to a file and run that, or pass a "
                           "client or an address.")
    if (getattr(main, "__file__", None) is None or forks
            or (module_name is not None and (module_name == "__main__" or module_name.endswith(".__main__")))):
        return  # as multiprocessing's spawn decides whether to run the main module again
    found = _main_script_lines(main)
    if found is None:
        return
    lines, source = found
    try:
        guards = [node for node in ast.walk(ast.parse(source)) if _is_main_guard(node)]
    except (SyntaxError, ValueError):  # not this Python's source: nothing to read the guard from
        return
    if any(node.lineno <= line <= node.end_lineno for node in guards for line in lines):
        return
    raise RuntimeError(
        f"run: called at line {lines[-1]} of {main.__file__} outside 'if __name__ == \"__main__\":', where it would "
        "start a local cluster whose worker processes import the script again, each to start a cluster of its own: "
        "put the script's top-level calls under that guard.")
