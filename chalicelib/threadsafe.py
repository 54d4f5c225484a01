"""Thread-safe pieces for code that runs on thread pools: a batch's records
side by side in the worker, requests side by side in the local server (whose
per-request app state is chalicelib/edge.py's ThreadSafeChalice)."""
import functools
import threading


def once(function):
    """Cache `function`'s value per arguments, like functools.cache, except
    that concurrent first calls build it once: a cold batch of ten threads
    must not open ten MongoClients or build the indexes ten times."""
    values = {}
    lock = threading.Lock()

    @functools.wraps(function)
    def cached(*args):
        try:
            return values[args]
        except KeyError:
            pass
        with lock:
            if args not in values:
                values[args] = function(*args)
            return values[args]

    return cached
