"""A Chalice app whose per-request state is per thread.

Chalice keeps `current_request` and `lambda_context` on the app object. In
Lambda a container handles one event at a time, but the local server runs
views on a thread pool, where a shared attribute would hand one request's
headers and body to another.
"""
import threading

from chalice import Chalice


class ThreadSafeChalice(Chalice):
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
