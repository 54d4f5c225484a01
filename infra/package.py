"""`make package`: the deployment templates, built offline.

`chalice package` turns app.py and .chalice/config.json into a SAM template
and the Lambda bundle; infra/topology.yml, with infra/template.yml for AWS
(LocalStack's free edition takes the topology alone), is merged into it. The
preflight Chalice writes names the `CorsOrigin` parameter, like every
response, so the origin is given once."""
import compileall
import copy
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

from chalicelib import contract
from infra import topology

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
PREFLIGHT_ORIGIN = "method.response.header.Access-Control-Allow-Origin"
# The contract's message for each error API Gateway answers by itself
# (DEFAULT_4XX passes on API Gateway's own).
GATEWAY_MESSAGES = {"MISSING_AUTHENTICATION_TOKEN": contract.NOT_FOUND,
                    "THROTTLED": contract.THROTTLED, "DEFAULT_5XX": contract.SERVER_ERROR}


class PackageError(Exception):
    """The stage cannot be packaged; the message says why."""


def package(stage: str, cors_origin: str = None) -> Path:
    origin = cors_origin or os.environ.get("CORS_ORIGIN")
    if not origin:
        raise PackageError(f"CORS_ORIGIN must be set to the frontend's origin for stage {stage}")
    out = INFRA / "build" / stage
    out.mkdir(parents=True, exist_ok=True)
    merge = out / "merge.yml"
    merge.write_text(yaml.safe_dump(merge_template(stage), sort_keys=False))
    chalice = Path(sys.executable).parent / "chalice"
    # Packaging talks to no AWS service, but botocore wants a region.
    env = {"AWS_DEFAULT_REGION": "us-east-1", **os.environ, "CORS_ORIGIN": origin}
    subprocess.run([str(chalice), "package", "--stage", stage, "--template-format", "yaml",
                    "--merge-template", str(merge), str(out)],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    add_bytecode(out / "deployment.zip")
    sam = out / "sam.yaml"
    template = yaml.safe_load(sam.read_text())
    name_the_origin_parameter(template, origin)
    send_every_method_to_the_api(template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"])
    route_the_api_through_the_distribution(template)
    sam.write_text(yaml.safe_dump(template, sort_keys=False))
    return sam


def add_bytecode(bundle: Path):
    """The bundle's modules compiled, beside their sources: Lambda's task
    folder is read-only, so without them every cold start compiles each
    module it imports (the app's and its packages' alike). Chalice packages
    for the runtime of the Python running it, this one."""
    with tempfile.TemporaryDirectory() as scratch:
        source, compiled = Path(scratch) / "source", Path(scratch) / "compiled.zip"
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(source)
        # The working tree's own bytecode, which chalice packages too, is
        # stamped with times the archive does not keep: ours replaces it.
        for cache in list(source.rglob("__pycache__")):
            shutil.rmtree(cache)
        compile_folder(source)
        with zipfile.ZipFile(bundle) as original, \
                zipfile.ZipFile(compiled, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in original.infolist():
                if "__pycache__/" not in entry.filename:
                    archive.writestr(entry, original.read(entry))
            for path in sorted(source.rglob("*.pyc")):
                archive.write(path, path.relative_to(source).as_posix())
        shutil.move(compiled, bundle)


def compile_folder(folder: Path):
    # Checked against the source's hash, not its modification time, which
    # the zip and Lambda's unpacking need not keep.
    compileall.compile_dir(folder, quiet=2,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)


def merge_template(stage: str) -> dict:
    parts = [topology.load()]
    if stage != "localstack":
        parts.append(yaml.safe_load((INFRA / "template.yml").read_text()))
    merged = {}
    for part in parts:
        merged = deep_merge(part, merged)
    return with_gateway_messages(topology.with_setting_bounds(merged))


def with_gateway_messages(template) -> dict:
    for resource in topology.resources_of_type(
            template, "AWS::ApiGateway::GatewayResponse").values():
        message = GATEWAY_MESSAGES.get(resource["Properties"]["ResponseType"])
        if message:
            resource["Properties"]["ResponseTemplates"] = {
                "application/json": json.dumps({"message": message})}
    return template


def deep_merge(top, base):
    """`top` over `base`, as `chalice package --merge-template` merges."""
    if not (isinstance(top, dict) and isinstance(base, dict)):
        return copy.deepcopy(top)
    merged = dict(base)
    for key, value in top.items():
        merged[key] = deep_merge(value, base.get(key))
    return merged


def name_the_origin_parameter(template, origin):
    template["Parameters"]["CorsOrigin"]["Default"] = origin
    for path in template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"].values():
        for operation in path.values():
            for response in operation["x-amazon-apigateway-integration"]["responses"].values():
                parameters = response.get("responseParameters", {})
                if PREFLIGHT_ORIGIN in parameters:
                    parameters[PREFLIGHT_ORIGIN] = {"Fn::Sub": "'${CorsOrigin}'"}


def send_every_method_to_the_api(definition):
    """API Gateway answers a method a path lacks with its own 404, where the
    app answers 405 (contract.METHOD_NOT_ALLOWED): each path of the
    DefinitionBody sends any other method to the API function too."""
    for path in definition["paths"].values():
        proxy = next(operation for operation in path.values()
                     if operation["x-amazon-apigateway-integration"]["type"] == "aws_proxy")
        path["x-amazon-apigateway-any-method"] = copy.deepcopy(proxy)


# Managed policies: CachingDisabled is replaced by the template's
# ApiCachePolicy (the token in the key); AllViewerExceptHostHeader sends
# the body, query and headers on, with API Gateway's own Host.
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def route_the_api_through_the_distribution(template):
    """One CloudFront behaviour per top-level path of the API's routes, so
    the routes are written once (app.py) and the site's origin serves them."""
    resources = template["Resources"]
    if "WebDistribution" not in resources:
        return
    prefixes = sorted({"/" + path.strip("/").split("/")[0] for path in
                       resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]})
    config = resources["WebDistribution"]["Properties"]["DistributionConfig"]
    config["CacheBehaviors"] += [
        {"PathPattern": pattern, "TargetOriginId": "api", "ViewerProtocolPolicy": "https-only",
         "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
         "CachePolicyId": {"Ref": "ApiCachePolicy"},
         "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST}
        for prefix in prefixes for pattern in (prefix, prefix + "/*")]


if __name__ == "__main__":
    try:
        print(package(sys.argv[1] if len(sys.argv) > 1 else "dev"))
    except PackageError as error:
        print(f"make package: {error}", file=sys.stderr)
        sys.exit(2)
