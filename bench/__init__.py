"""Benchmarks: each prints its figures and ratios; none asserts a timing."""
import os
import statistics
import subprocess
import sys
from pathlib import Path

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


def virtualenv(name, requirements: Path, label, env=None) -> Path:
    """A virtualenv of its own under the data folder for a tool the
    benchmarks run (not the project's), (re)built when its pinned
    requirements or `env` (added to pip's environment: build flags) change."""
    from devstack import services
    home = services.data_dir() / name
    stamp = home / "installed-requirements.txt"
    env = env or {}
    wanted = requirements.read_text() + "".join(f"# {key}={value}\n"
                                                for key, value in sorted(env.items()))
    if stamp.exists() and stamp.read_text() == wanted:
        return home
    print(f"installing {label} into {home} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True)
    pip = subprocess.run([str(home / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "-r", str(requirements)], capture_output=True, text=True,
                         env={**os.environ, **env})
    if pip.returncode:
        raise RuntimeError(f"installing {label} failed:\n{pip.stderr[-2000:]}")
    stamp.write_text(wanted)
    return home
