"""`make deploy`'s last step, `python -m infra.publish_web STACK`: the web
client into the stack's bucket, with config.js written from the stack's
outputs, each file with its content type and cache headers, then the
distribution's copies invalidated."""
import json
import mimetypes
import sys
import time
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "web"
# They name every other file, so a deploy is seen at the next load; the
# rest may be kept an hour.
REVALIDATED = {"index.html", "config.js"}
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}


def config_js(site_url: str) -> str:
    return ("// Written by make deploy from the stack's outputs: the API and the\n"
            "// notifier are on the site's own origin.\n"
            f"export const config = {{\n  apiUrl: {json.dumps(site_url)},\n"
            f"  socketUrl: {json.dumps(site_url)},\n}};\n")


def files(site_url: str):
    """(key, body, content type, cache control) for each file of web/."""
    for path in sorted(WEB.rglob("*")):
        if not path.is_file():
            continue
        key = path.relative_to(WEB).as_posix()
        body = config_js(site_url).encode() if key == "config.js" else path.read_bytes()
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"
        cache = "no-cache" if key in REVALIDATED else "public, max-age=3600"
        yield key, body, kind, cache


def publish(stack: str):
    import boto3

    outputs = {item["OutputKey"]: item["OutputValue"] for item in boto3.client(
        "cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    s3 = boto3.client("s3")
    for key, body, kind, cache in files(outputs["WebURL"]):
        s3.put_object(Bucket=outputs["WebBucketName"], Key=key, Body=body, ContentType=kind,
                      CacheControl=cache)
    boto3.client("cloudfront").create_invalidation(
        DistributionId=outputs["WebDistributionId"], InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(time.time())})
    print(outputs["WebURL"])


if __name__ == "__main__":
    publish(sys.argv[1])
