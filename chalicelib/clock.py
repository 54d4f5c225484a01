"""Time as the contract shows it: UTC, millisecond precision, ISO 8601 with `Z`."""
from datetime import datetime, timezone


def now() -> datetime:
    # MongoDB keeps milliseconds; truncating here keeps what we return on
    # insert identical to what a later read returns.
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"
