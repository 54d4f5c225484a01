"""Users, passwords and tokens.

A token carries, beside the contract's id, iat and exp, the user's token
generation (`gen`), its own session id (`sid`) and the stage (`aud`). The
user document is read on every request anyway, so checking a token against
it costs nothing more: a token whose generation is not the user's, or
whose session the user ended, is refused like an expired one."""
import secrets
import time
from datetime import datetime, timezone

import bcrypt
import jwt
import pymongo
import pymongo.errors

from chalicelib import clock, contract, db, limits, lockout, logs, notify, settings, validation
from chalicelib.errors import ApiError
from chalicelib.threadsafe import once

TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600
# Sessions ended one at a time ride on every request's user read; past this
# many within a token's lifetime, the next logout ends them all instead.
MAX_ENDED_SESSIONS = 100


def register(body: dict, source_ip: str) -> dict:
    limits.count_registration(source_ip)
    fields = validation.required_strings(body, ("name", "email", "password"),
                                         contract.MISSING_FIELDS)
    email = validation.normalised_email(fields["email"])
    password = validation.password(fields["password"])
    moment = clock.now()
    user = {
        "name": fields["name"].strip(),
        "email": email,
        "password": hash_password(password),
        "status": "active",
        "createdAt": moment,
        "updatedAt": moment,
        "__v": 0,
    }
    try:
        db.get().users.insert_one(user)
    except pymongo.errors.DuplicateKeyError:
        raise ApiError(400, contract.USER_EXISTS) from None
    return credentials(user)


def login(body: dict, source_ip: str) -> dict:
    try:
        fields = validation.required_strings(body, ("email", "password"),
                                             contract.MISSING_FIELDS)
    except ApiError:
        # A malformed attempt counts against its address all the same.
        limits.count_login(source_ip)
        raise
    email = fields["email"].strip().lower()
    # Known and unknown emails alike, so a lockout reveals nothing either.
    attempt = lockout.reserve_login(source_ip, email)
    user = db.get().users.find_one({"email": email})
    # Check a password even for an unknown email, so timing does not reveal
    # which emails are registered.
    stored = user["password"] if user else _dummy_hash()
    password_matches = _matches(fields["password"], stored)
    if not password_matches or user is None or user.get("status") != "active":
        raise ApiError(401, contract.INVALID_CREDENTIALS)
    lockout.login_succeeded(email, source_ip, attempt)
    return credentials(user)


def confirm_password(user: dict, password: str):
    """A signed-in user's password, asked again before a change that cannot
    be undone; guesses are counted per user, so a stolen token cannot be
    used to find the password."""
    lockout.begin_password_check(user["_id"])
    stored = db.get().users.find_one({"_id": user["_id"]}, {"password": 1})
    if stored is None or not _matches(password, stored["password"]):
        raise ApiError(400, contract.WRONG_PASSWORD)
    lockout.password_check_succeeded(user["_id"])


def profile(user: dict) -> dict:
    return contract.PROFILE(user)


def current_user(request) -> dict:
    """The active user a request's bearer token names; raises ApiError otherwise."""
    return current_session(request)[0]


def current_session(request):
    """The user and the claims of a request's bearer token."""
    claims = _bearer_claims(request)
    return _present(user_for_claims(claims)), claims


def current_user_documents(request, collection: str) -> list:
    """All the documents in `collection` of the active user a request's
    bearer token names, in no order, read with the user (checked as
    current_user checks it) in one command: the user's $lookup of its
    documents by userId, which rides any index led by userId. It saves a
    round trip on MongoDB and, on the embedded server, a third of a
    listing's CPU. MongoDB refuses a join past 16 MB (only caps far above
    the defaults allow one); that user is read in two commands."""
    claims = _bearer_claims(request)
    try:
        found = next(db.get().users.aggregate([
            {"$match": {"_id": _user_id(claims)}}, {"$project": {"password": 0}},
            {"$lookup": {"from": collection, "localField": "_id", "foreignField": "userId",
                         "as": _JOINED}}]), None)
    except pymongo.errors.OperationFailure as error:
        if error.code not in _JOIN_TOO_LARGE:
            raise
        user = _present(user_for_claims(claims))
        return list(db.get()[collection].find({"userId": user["_id"]}))
    return _present(_active(found, claims))[_JOINED]


# A field no user document has, and mongod's codes for a $lookup whose
# matches pass the 16 MB a document may hold.
_JOINED = "__joined"
_JOIN_TOO_LARGE = (4568, 10334)


def _bearer_claims(request) -> dict:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token.strip():
        raise ApiError(401, contract.NO_TOKEN)
    return verified_claims(token.strip())


def _present(user):
    if user is None:
        raise ApiError(401, contract.USER_NOT_FOUND)
    logs.add(userId=str(user["_id"]))
    return user


def user_for_token(token: str):
    """The user a valid token names (None if that user is gone).

    Raises ApiError(401, contract.NOT_AUTHORIZED) for a bad, expired, ended or inactive one.
    """
    return user_for_claims(verified_claims(token))


def verified_claims(token: str) -> dict:
    """The claims of a token signed with our secret, not expired, and of this stage.

    A token without `aud` was issued before tokens carried one (it has no
    `gen` or `sid` either): by this stage or another sharing the secret,
    when both accepted each other's anyway. It is accepted as generation 0,
    so a deploy logs nobody out; "log out everywhere" or a new password ends
    it, and none outlives the deploy by more than a token's lifetime."""
    try:
        claims = jwt.decode(token, settings.get().require("jwt_secret"), algorithms=["HS256"],
                            options={"require": ["id", "iat", "exp"], "verify_aud": False})
    except jwt.PyJWTError:
        raise ApiError(401, contract.NOT_AUTHORIZED) from None
    if (claims.get("aud", settings.get().stage) != settings.get().stage
            or not isinstance(claims.get("gen", 0), int)
            or not isinstance(claims.get("sid", ""), str)):
        raise ApiError(401, contract.NOT_AUTHORIZED)
    return claims


def user_for_claims(claims: dict):
    """The user the claims name (None if that user is gone); raises
    ApiError(401, contract.NOT_AUTHORIZED) for an inactive user or an ended
    session."""
    return _active(db.get().users.find_one({"_id": _user_id(claims)}, {"password": 0}), claims)


def _user_id(claims):
    user_id = db.object_id(claims["id"]) if isinstance(claims["id"], str) else None
    if user_id is None:
        raise ApiError(401, contract.NOT_AUTHORIZED)
    return user_id


def _active(user, claims):
    if user is not None and (user.get("status") != "active" or _ended(user, claims)):
        raise ApiError(401, contract.NOT_AUTHORIZED)
    return user


def exists(user_id) -> bool:
    """Whether the user is still there: a request authorised before its
    account was deleted may outlast the deletion."""
    return db.get().users.find_one({"_id": user_id}, {"_id": 1}) is not None


def _ended(user, claims) -> bool:
    return (claims.get("gen", 0) != generation(user)
            or any(ended["sid"] == session_of(claims)
                   for ended in user.get("endedSessions", ())))


def generation(user) -> int:
    return user.get("tokenGeneration", 0)


def session_of(claims) -> str:
    """A token's session: its `sid`, or for a token issued before sessions
    had ids, the second it was issued (per user, near enough to one token)."""
    return claims.get("sid") or f"issued:{claims['iat']}"


def logout(user: dict, claims: dict, body: dict) -> dict:
    """End the presented token's session, or with `everywhere` all of the user's."""
    everywhere = body.get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise ApiError(400, contract.EVERYWHERE_NOT_BOOLEAN)
    if everywhere:
        end_all_sessions(user["_id"])
    else:
        end_session(user, claims)
    return {"message": contract.LOGGED_OUT}


def end_session(user: dict, claims: dict):
    moment = clock.now()
    live = [ended for ended in user.get("endedSessions", ()) if ended["exp"] > moment]
    if len(live) >= MAX_ENDED_SESSIONS:
        end_all_sessions(user["_id"])
        return
    users = db.get().users
    # A push, then a pull of the expired, rather than one $set of the list:
    # two logouts at once must both be recorded.
    users.update_one({"_id": user["_id"]}, {"$push": {"endedSessions": {
        "sid": session_of(claims), "exp": datetime.fromtimestamp(claims["exp"], timezone.utc)}}})
    users.update_one({"_id": user["_id"]}, {"$pull": {"endedSessions": {"exp": {"$lte": moment}}}})
    notify.sessions_ended(user["_id"], session=session_of(claims))


def end_all_sessions(user_id, changes=None) -> dict:
    """End every token of the user, applying `changes` ($set fields, a new
    password) in the same write; the user after it, for a fresh token."""
    user = db.get().users.find_one_and_update(
        {"_id": user_id}, {"$inc": {"tokenGeneration": 1},
                           "$set": {"endedSessions": [], **(changes or {})}},
        projection={"password": 0}, return_document=pymongo.ReturnDocument.AFTER)
    if user is not None:
        notify.sessions_ended(user_id, generation=generation(user))
    return user


def issue_token(user: dict) -> str:
    issued = int(time.time())
    claims = {"id": str(user["_id"]), "iat": issued, "exp": issued + TOKEN_LIFETIME_SECONDS,
              "gen": generation(user), "sid": secrets.token_urlsafe(12),
              "aud": settings.get().stage}
    return jwt.encode(claims, settings.get().require("jwt_secret"), algorithm="HS256")


def credentials(user):
    return contract.credentials(user, issue_token(user))


def hash_password(password: str) -> str:
    salt = bcrypt.gensalt(rounds=settings.get().bcrypt_rounds)
    return bcrypt.hashpw(password.encode(), salt).decode()


def _matches(password: str, stored: str) -> bool:
    candidate = password.encode()
    return len(candidate) <= 72 and bcrypt.checkpw(candidate, stored.encode())


def _dummy_hash() -> str:
    return _dummy_hash_at(settings.get().bcrypt_rounds)


@once
def _dummy_hash_at(rounds) -> str:
    return hash_password("not a password anyone has")
