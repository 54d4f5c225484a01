"""secantusdb's daemon, with a wait its own signal handler cannot deadlock.

secantus' command line stops on SIGTERM or SIGINT by setting, from the
signal handler, the very Event its main thread waits on; a signal that lands
while that thread holds the Event's lock deadlocks the process, which then
outlives its owner (seen after a kill -9 of the stack: the service got its
SIGTERM and stayed). Polling the flag holds no lock when a signal lands.
Run as a script, so its name stays in the command line that
services._end_leftovers looks for."""
import sys
import time

from secantus import cli, server


class _Server(server.SecantusDBServer):
    def wait(self):
        while not self._stop_event.is_set():
            time.sleep(0.1)


if __name__ == "__main__":
    cli.SecantusDBServer = _Server
    sys.exit(cli.main())
