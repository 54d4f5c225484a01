"""Forgotten passwords: a single-use link by mail, valid for
PASSWORD_RESET_LINK_SECONDS (30 minutes), stored only as its SHA-256."""
import hashlib
import logging
import secrets
import time
from datetime import timedelta

from chalicelib import auth, clock, contract, db, limits, lockout, mail, settings, validation
from chalicelib.errors import ApiError

log = logging.getLogger(__name__)

SUBJECT = "Reset your password"
# Every answer to forgot-password takes at least this long, so the time the
# mail takes to send does not tell a registered address from another.
ANSWER_FLOOR_SECONDS = 0.5


def forgot(body: dict, source_ip: str) -> dict:
    """The same answer, after the same time, for any address."""
    started = time.monotonic()
    fields = validation.required_strings(body, ("email",), contract.MISSING_FIELDS)
    email = fields["email"].strip().lower()
    limits.count_password_reset(source_ip, email)
    link_token = secrets.token_urlsafe(32)
    user = db.get().users.find_one({"email": email, "status": "active"}, {"name": 1})
    if user is not None:
        _send_link(user, email, link_token)
    time.sleep(max(0.0, ANSWER_FLOOR_SECONDS - (time.monotonic() - started)))
    return {"message": contract.FORGOT_ANSWER}


def _send_link(user, email, link_token):
    config = settings.get()
    db.get().password_resets.insert_one({
        "_id": _digest(link_token), "userId": user["_id"],
        "expiresAt": clock.now() + timedelta(seconds=config.password_reset_link_seconds)})
    minutes = config.password_reset_link_seconds // 60
    text = (f"Hello {user['name']},\n\n"
            f"Someone asked to reset the password of your account. Open this link within "
            f"{minutes} minutes to choose a new one:\n\n"
            f"{config.client_url}/#reset={link_token}\n\n"
            "If it was not you, ignore this message: your password stays as it is.\n")
    try:
        mail.send(email, SUBJECT, text)
    except Exception:
        # The answer must not differ from an unknown address's.
        log.exception("user %s: the reset link could not be sent", user["_id"])


def reset(body: dict) -> dict:
    """Set the password a link allows, once: the link and every other
    outstanding one end, and so does every token; the answer is a fresh one."""
    fields = validation.required_strings(body, ("token", "password"),
                                         contract.MISSING_RESET_FIELDS)
    password = validation.password(fields["password"])
    resets = db.get().password_resets
    record = resets.find_one({"_id": _digest(fields["token"])})
    # Deleting it is the use: of two requests with one link, one deletes it.
    if (record is None or record["expiresAt"] <= clock.now()
            or not resets.delete_one({"_id": record["_id"]}).deleted_count):
        raise ApiError(400, contract.INVALID_LINK)
    user = auth.end_all_sessions(record["userId"], {"password": auth.hash_password(password),
                                                    "updatedAt": clock.now()})
    if user is None:
        raise ApiError(400, contract.INVALID_LINK)
    resets.delete_many({"userId": record["userId"]})
    # A user locked out by guesses can log in with the new password at once.
    lockout.unlock(user["email"])
    return auth.credentials(user)


def _digest(link_token: str) -> str:
    return hashlib.sha256(link_token.encode()).hexdigest()
