"""Time as the contract shows it: UTC, millisecond precision, ISO 8601 with `Z`."""
from datetime import datetime, timezone


def now() -> datetime:
    # MongoDB keeps milliseconds; truncating here keeps what we return on
    # insert identical to what a later read returns.
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    # isoformat, not strftime: two of these per item of every listing.
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"
