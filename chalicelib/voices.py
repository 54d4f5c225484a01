"""Brand voices: a user's named descriptions of how their writing sounds,
with a few sample texts, that a generation can follow (`voiceId`)."""
import pymongo

from chalicelib import clock, contract, db, validation
from chalicelib.errors import ApiError


def list_for(user: dict) -> list:
    cursor = db.get().voices.find({"userId": user["_id"]}).sort(
        [("createdAt", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)])
    return [contract.VOICE(voice) for voice in cursor]


def create(user: dict, body: dict) -> dict:
    fields = _fields(body)
    if not fields.get("name", "").strip():
        raise ApiError(400, contract.VOICE_NAME_REQUIRED)
    # A count then an insert: two creates racing past the cap make one voice
    # too many, which costs nothing; the cap bounds storage, not money.
    voices = db.get().voices
    if voices.count_documents({"userId": user["_id"]}) >= contract.MAX_VOICES_PER_USER:
        raise ApiError(400, contract.TOO_MANY_VOICES)
    moment = clock.now()
    voice = {"userId": user["_id"], "name": fields["name"],
             "description": fields.get("description", ""), "samples": fields.get("samples", []),
             "createdAt": moment, "updatedAt": moment}
    voices.insert_one(voice)
    return contract.VOICE(voice)


def update(user: dict, voice_id: str, body: dict) -> dict:
    fields = _fields(body)
    if "name" in fields and not fields["name"].strip():
        raise ApiError(400, contract.VOICE_NAME_REQUIRED)
    voice = owned(user, voice_id)
    if fields:
        voices = db.get().voices
        voices.update_one({"_id": voice["_id"], "userId": user["_id"]},
                          {"$set": {**fields, "updatedAt": clock.now()}})
        voice = voices.find_one({"_id": voice["_id"]})
        if voice is None:
            _not_found()
    return contract.VOICE(voice)


def delete(user: dict, voice_id: str) -> dict:
    voice = owned(user, voice_id)
    db.get().voices.delete_one({"_id": voice["_id"], "userId": user["_id"]})
    return {"id": str(voice["_id"])}


def owned(user: dict, voice_id) -> dict:
    """The user's voice; another user's is as unknown as a missing one."""
    key = db.object_id(voice_id) if isinstance(voice_id, str) else None
    voice = db.get().voices.find_one({"_id": key}) if key else None
    if voice is None or voice["userId"] != user["_id"]:
        _not_found()
    return voice


def snapshot(user: dict, voice_id: str) -> dict:
    """The voice as a job keeps it: what it was when the job was asked for,
    whatever is edited later."""
    voice = owned(user, voice_id)
    return {name: voice[name] for name in ("name", "description", "samples")}


def _fields(body):
    fields = validation.strings(body, "name", "description")
    if "samples" in body:
        fields["samples"] = validation.string_list("samples", body["samples"], "sample",
                                                   contract.MAX_SAMPLES)
    return fields


def _not_found():
    raise ApiError(404, contract.VOICE_NOT_FOUND)
