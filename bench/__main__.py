"""`make bench`: every benchmark in turn."""
import importlib
import sys

BENCHMARKS = ("cold_start", "api_load", "storage", "revocation", "worker", "notifier", "limits",
              "options", "chaos", "streaming", "llama_server", "capacity", "abuse")


def main(names):
    for name in names or BENCHMARKS:
        print(f"\n=== bench.{name} ===", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
