"""The local stack with every limit check a no-op: the baseline bench.limits
measures the checks against. For benchmarks only; nothing else imports it."""
from chalicelib import limits
from devstack.__main__ import main


def _no_check(*args, **kwargs):
    return None


for _name in ("take_generation_slot", "reserve_login", "begin_login", "login_succeeded",
              "count_login", "count_registration"):
    setattr(limits, _name, _no_check)

if __name__ == "__main__":
    main()
