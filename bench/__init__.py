"""Benchmarks: each prints its figures and ratios; none asserts a timing."""
import statistics

from pymongo import monitoring


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(values, unit="ms", scale=1000.0):
    return (f"p50 {percentile(values, 0.5) * scale:.1f} {unit}, "
            f"p99 {percentile(values, 0.99) * scale:.1f} {unit}, "
            f"mean {statistics.mean(values) * scale:.1f} {unit}")


class CommandCounter(monitoring.CommandListener):
    """The names of the database commands sent while it is registered: the
    round trips a request or a job costs."""

    def __init__(self):
        self.names = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass
