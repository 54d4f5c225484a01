"""Users, passwords and tokens."""
import time

import bcrypt
import jwt
import pymongo.errors

from chalicelib import clock, contract, db, limits, logs, settings, validation
from chalicelib.errors import ApiError
from chalicelib.threadsafe import once

TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600


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
        "password": _hash(password),
        "status": "active",
        "createdAt": moment,
        "updatedAt": moment,
        "__v": 0,
    }
    try:
        db.get().users.insert_one(user)
    except pymongo.errors.DuplicateKeyError:
        raise ApiError(400, contract.USER_EXISTS) from None
    return _credentials(user)


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
    limits.reserve_login(source_ip, email)
    user = db.get().users.find_one({"email": email})
    # Check a password even for an unknown email, so timing does not reveal
    # which emails are registered.
    stored = user["password"] if user else _dummy_hash()
    password_matches = _matches(fields["password"], stored)
    if not password_matches or user is None or user.get("status") != "active":
        raise ApiError(401, contract.INVALID_CREDENTIALS)
    limits.login_succeeded(email)
    return _credentials(user)


def profile(user: dict) -> dict:
    return contract.PROFILE(user)


def current_user(request) -> dict:
    """The active user a request's bearer token names; raises ApiError otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token.strip():
        raise ApiError(401, contract.NO_TOKEN)
    user = user_for_token(token.strip())
    if user is None:
        raise ApiError(401, contract.USER_NOT_FOUND)
    logs.add(userId=str(user["_id"]))
    return user


def user_for_token(token: str):
    """The user a valid token names (None if that user is gone).

    Raises ApiError(401, contract.NOT_AUTHORIZED) for a bad, expired or inactive one.
    """
    return user_for_claims(verified_claims(token))


def verified_claims(token: str) -> dict:
    """The claims of a token signed with our secret and not expired."""
    try:
        return jwt.decode(token, settings.get().require("jwt_secret"), algorithms=["HS256"],
                          options={"require": ["id", "iat", "exp"]})
    except jwt.PyJWTError:
        raise ApiError(401, contract.NOT_AUTHORIZED) from None


def user_for_claims(claims: dict):
    user_id = db.object_id(claims["id"]) if isinstance(claims["id"], str) else None
    if user_id is None:
        raise ApiError(401, contract.NOT_AUTHORIZED)
    user = db.get().users.find_one({"_id": user_id}, {"password": 0})
    if user is not None and user.get("status") != "active":
        raise ApiError(401, contract.NOT_AUTHORIZED)
    return user


def issue_token(user_id: str) -> str:
    issued = int(time.time())
    claims = {"id": user_id, "iat": issued, "exp": issued + TOKEN_LIFETIME_SECONDS}
    return jwt.encode(claims, settings.get().require("jwt_secret"), algorithm="HS256")


def _credentials(user):
    return contract.credentials(user, issue_token(str(user["_id"])))


def _hash(password: str) -> str:
    salt = bcrypt.gensalt(rounds=settings.get().bcrypt_rounds)
    return bcrypt.hashpw(password.encode(), salt).decode()


def _matches(password: str, stored: str) -> bool:
    candidate = password.encode()
    return len(candidate) <= 72 and bcrypt.checkpw(candidate, stored.encode())


def _dummy_hash() -> str:
    return _dummy_hash_at(settings.get().bcrypt_rounds)


@once
def _dummy_hash_at(rounds) -> str:
    return _hash("not a password anyone has")
