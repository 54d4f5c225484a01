"""`make deploy`'s last step (infra/publish_web.py) against moto's server: the
stack's outputs read from CloudFormation, the client's files in the bucket
with their content types and cache headers, config.js written from the
outputs, and the distribution's copies invalidated."""
import uuid

import boto3
import pytest

from infra.publish_web import WEB, publish

SITE_URL = "https://d111111abcdef8.cloudfront.net"
# The outputs `publish` reads, as infra/template.yml names them.
STACK_TEMPLATE = """
Parameters:
  DistributionId: {Type: String}
Resources:
  WebBucket: {Type: AWS::S3::Bucket}
Outputs:
  WebURL: {Value: %s}
  WebBucketName: {Value: {Ref: WebBucket}}
  WebDistributionId: {Value: {Ref: DistributionId}}
""" % SITE_URL


@pytest.fixture
def published(backing, monkeypatch, capsys):
    """A stack with the site's outputs and a distribution, published; the
    clients of the account `publish` wrote to."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", backing["sqs"].url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    cloudfront, cloudformation, s3 = (boto3.client(name) for name in
                                      ("cloudfront", "cloudformation", "s3"))
    distribution_id = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": str(uuid.uuid4()), "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "web", "DomainName": "web.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "web",
                                 "ViewerProtocolPolicy": "redirect-to-https"},
    })["Distribution"]["Id"]
    stack = f"site-{uuid.uuid4().hex[:8]}"
    cloudformation.create_stack(StackName=stack, TemplateBody=STACK_TEMPLATE, Parameters=[
        {"ParameterKey": "DistributionId", "ParameterValue": distribution_id}])
    outputs = {item["OutputKey"]: item["OutputValue"] for item in
               cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    publish(stack)
    return {"s3": s3, "cloudfront": cloudfront, "bucket": outputs["WebBucketName"],
            "distribution": distribution_id, "printed": capsys.readouterr().out}


def stored(published, key):
    return published["s3"].get_object(Bucket=published["bucket"], Key=key)


def test_every_file_of_the_client_is_uploaded_and_the_site_url_printed(published):
    listed = published["s3"].list_objects_v2(Bucket=published["bucket"])["Contents"]
    files = sorted(path.relative_to(WEB).as_posix() for path in WEB.rglob("*") if path.is_file())
    assert sorted(item["Key"] for item in listed) == files
    assert stored(published, "app.js")["Body"].read() == (WEB / "app.js").read_bytes()
    assert published["printed"] == SITE_URL + "\n"


@pytest.mark.parametrize("key, content_type, cache_control", [
    ("index.html", "text/html; charset=utf-8", "no-cache"),
    ("config.js", "text/javascript; charset=utf-8", "no-cache"),
    ("app.js", "text/javascript; charset=utf-8", "public, max-age=3600"),
    ("style.css", "text/css; charset=utf-8", "public, max-age=3600"),
    ("vendor/socket.io.esm.min.js", "text/javascript; charset=utf-8", "public, max-age=3600"),
])
def test_each_file_has_its_content_type_and_cache_control(published, key, content_type,
                                                          cache_control):
    stored_object = stored(published, key)
    assert (stored_object["ContentType"], stored_object["CacheControl"]) == (
        content_type, cache_control)


def test_config_js_points_the_api_and_the_sockets_at_the_sites_own_origin(published):
    assert stored(published, "config.js")["Body"].read().decode() == (
        "// Written by make deploy from the stack's outputs: the API and the\n"
        "// notifier are on the site's own origin.\n"
        "export const config = {\n"
        f'  apiUrl: "{SITE_URL}",\n'
        f'  socketUrl: "{SITE_URL}",\n'
        "};\n")


def test_the_distributions_copies_of_every_path_are_invalidated(published):
    cloudfront = published["cloudfront"]
    (listed,) = cloudfront.list_invalidations(
        DistributionId=published["distribution"])["InvalidationList"]["Items"]
    invalidation = cloudfront.get_invalidation(DistributionId=published["distribution"],
                                               Id=listed["Id"])["Invalidation"]
    assert invalidation["InvalidationBatch"]["Paths"] == {"Quantity": 1, "Items": ["/*"]}
