"""Thread-safe pieces for code that runs on thread pools: a batch's records
side by side in the worker, requests side by side in the local server."""
import functools
import threading

from chalice import Chalice


class ThreadSafeChalice(Chalice):
    """A Chalice app whose per-request state is per thread.

    Chalice keeps `current_request` and `lambda_context` on the app object.
    In Lambda a container handles one event at a time, but the local server
    runs views on a thread pool, where a shared attribute would hand one
    request's headers and body to another.
    """
    _state = threading.local()

    @property
    def current_request(self):
        return getattr(self._state, "request", None)

    @current_request.setter
    def current_request(self, request):
        self._state.request = request

    @property
    def lambda_context(self):
        return getattr(self._state, "context", None)

    @lambda_context.setter
    def lambda_context(self, context):
        self._state.context = context


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
