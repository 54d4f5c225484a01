"""Generation options (an addition to POST /generate-content) and the one
place where they, a brand voice and a rewrite shape the prompt.

User text never reaches the system message: what the user wrote goes into
the user message as one JSON object, quoted by the encoder, and the system
message, made only of the contract's sentences, tells the model that object
is data. A job without options gets the contract's prompt unchanged."""
import json

from chalicelib import contract, validation, voices
from chalicelib.errors import ApiError

FREE_TEXT = ("tone", "language", "audience", "productName", "voiceId")
LISTS = (("keywords", "keyword", contract.MAX_KEYWORDS),
         ("features", "feature", contract.MAX_FEATURES))


def validate(user: dict, body: dict, content_type: str):
    """(the options to store on the job, a snapshot of the voice they name
    or None). Absent options are {}; blank free text counts as absent."""
    if "options" not in body:
        return {}, None
    given = body["options"]
    if not isinstance(given, dict):
        raise ApiError(400, contract.OPTIONS_NOT_AN_OBJECT)
    names = contract.option_names()
    if any(name not in names for name in given):
        raise ApiError(400, contract.unknown_option())
    taken = (*contract.COMMON_OPTIONS, *contract.CONTENT_TYPES[content_type].options)
    for name in given:
        if name not in taken:
            raise ApiError(400, contract.option_only_for(name))
    chosen = {name: value.strip() for name, value in validation.strings(given, *FREE_TEXT)
              .items() if value.strip()}
    chosen.update(validation.strings(given, "length", "platform"))
    if "length" in chosen and chosen["length"] not in contract.LENGTHS:
        raise ApiError(400, contract.BAD_LENGTH)
    if "platform" in chosen and chosen["platform"] not in contract.PLATFORMS:
        raise ApiError(400, contract.BAD_PLATFORM)
    for name, item_name, most in LISTS:
        if name in given:
            items = [item.strip() for item in
                     validation.string_list(name, given[name], item_name, most)]
            if any(items):
                chosen[name] = [item for item in items if item]
    if "variants" in given:
        chosen["variants"] = _variants(given["variants"])
    voice = voices.snapshot(user, chosen["voiceId"]) if "voiceId" in chosen else None
    return chosen, voice


def variants(job: dict) -> int:
    """How many variants the job asks for: paid calls, and limit slots."""
    return (job.get("options") or {}).get("variants", 1)


def messages(prompt: str, content_type: str, job: dict) -> list:
    """The chat messages for a job of `content_type` about `prompt`."""
    system = contract.CONTENT_TYPES[content_type].prompt
    chosen, voice, rewrite = job.get("options") or {}, job.get("voice"), job.get("rewrite")
    if not (chosen or voice or rewrite):
        return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    rules = [system, contract.DATA_RULE, *_instructions(content_type, chosen, voice, rewrite)]
    data = _data(prompt, chosen, voice, rewrite)
    return [{"role": "system", "content": "\n\n".join(rules)},
            {"role": "user", "content": json.dumps(data, ensure_ascii=False, indent=2)}]


def fit(text: str, job: dict):
    """(text within the caption platform's limit, a notice if it was cut):
    cut at the last word boundary that fits, never mid-word."""
    platform = (job.get("options") or {}).get("platform")
    if platform is None or len(text) <= contract.PLATFORMS[platform][1]:
        return text, None
    limit = contract.PLATFORMS[platform][1]
    cut = text[:limit]
    # Unless the cut falls between two words, the word it splits goes.
    if not (text[limit].isspace() or cut[-1].isspace()) and len(cut.split()) > 1:
        cut = cut.rsplit(None, 1)[0]
    return cut.rstrip(), contract.trimmed(platform)


def _named_tone(chosen):
    tone = chosen.get("tone", "").lower()
    return tone if tone in contract.TONES else None


def _language(chosen, rewrite):
    return chosen.get("language") or (rewrite or {}).get("language")


def _data(prompt, chosen, voice, rewrite):
    data = {"title": prompt, "text": rewrite["source"]} if rewrite else {"request": prompt}
    if "tone" in chosen and not _named_tone(chosen):
        data["tone"] = chosen["tone"]
    if _language(chosen, rewrite):
        data["language"] = _language(chosen, rewrite)
    for name in ("audience", "keywords"):
        if name in chosen:
            data[name] = chosen[name]
    product = {key: chosen[name] for key, name in (("name", "productName"),
                                                   ("features", "features")) if name in chosen}
    if product:
        data["product"] = product
    if voice:
        data["voice"] = voice
    if rewrite and rewrite.get("note"):
        data["note"] = rewrite["note"]
    return data


def _instructions(content_type, chosen, voice, rewrite):
    lines = contract.PROMPT_LINES
    said = []
    if rewrite:
        said.append(contract.REWRITES[rewrite["instruction"]])
        if rewrite.get("note"):
            said.append(lines["note"])
    if "tone" in chosen:
        named = _named_tone(chosen)
        said.append(lines["named tone"].format(tone=named) if named else lines["tone"])
    if "length" in chosen:
        words = dict(contract.CONTENT_TYPES[content_type].words)[chosen["length"]]
        said.append(lines["length"].format(words=words))
    if _language(chosen, rewrite) and not (rewrite and rewrite["instruction"] == "translate"):
        said.append(lines["language"])
    said += [lines[name] for name in ("audience", "keywords") if name in chosen]
    if "productName" in chosen or "features" in chosen:
        said.append(lines["product"])
    if "platform" in chosen:
        name, limit = contract.PLATFORMS[chosen["platform"]]
        said.append(lines["platform"].format(name=name, limit=limit))
    if voice:
        said.append(lines["voice"])
    return said


def _variants(value):
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= contract.MAX_VARIANTS:
        raise ApiError(400, contract.BAD_VARIANTS)
    return value
