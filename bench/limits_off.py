"""The local stack with every limit check a no-op: the baseline bench.limits
measures the checks against. For benchmarks only; nothing else imports it."""
from chalicelib import limits, lockout, spend
from devstack.__main__ import main


def _no_check(*args, **kwargs):
    return None


for _module, _names in ((limits, ("take_generation_slot", "count_login", "count_registration")),
                        (lockout, ("reserve_login", "login_succeeded")),
                        (spend, ("reserve",))):
    for _name in _names:
        setattr(_module, _name, _no_check)

if __name__ == "__main__":
    main()
