#!/usr/bin/env bash
# `make deploy-localstack`: the packaged `localstack` stage, deployed into the
# LocalStack that localstack-compose.yml runs (see docs/operations.md).
# Needs `awslocal` (pip install awscli-local) and the compose stack up.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CORS_ORIGIN:?set CORS_ORIGIN to the origin of the frontend}"
: "${JWT_SECRET:?set JWT_SECRET, the same one the compose file gave the notifier}"
: "${OPENROUTER_API_KEY:?set OPENROUTER_API_KEY}"
STACK=${STACK:-ai-content-generator}
BUCKET=${DEPLOY_BUCKET:-ai-content-generator-deploy}
SECRET=ai-content-generator/localstack
PYTHON=${PYTHON:-.venv/bin/python}
BUILD=infra/build/localstack

"$PYTHON" -m infra.package localstack >/dev/null

# The secret's JSON is built by Python so that no value needs escaping here.
secret=$("$PYTHON" -c 'import json, os; print(json.dumps(
    {k: os.environ[k] for k in ("JWT_SECRET", "OPENROUTER_API_KEY")}))')
if awslocal secretsmanager describe-secret --secret-id "$SECRET" >/dev/null 2>&1; then
  awslocal secretsmanager put-secret-value --secret-id "$SECRET" --secret-string "$secret" >/dev/null
else
  awslocal secretsmanager create-secret --name "$SECRET" --secret-string "$secret" >/dev/null
fi

awslocal s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1 || awslocal s3 mb "s3://$BUCKET"
awslocal cloudformation package --template-file "$BUILD/sam.yaml" --s3-bucket "$BUCKET" \
  --output-template-file "$BUILD/packaged.yaml"
# PARAMETERS, as for `make deploy`: more Key=Value overrides, split on spaces.
# shellcheck disable=SC2086
awslocal cloudformation deploy --template-file "$BUILD/packaged.yaml" --stack-name "$STACK" \
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
  --parameter-overrides "CorsOrigin=$CORS_ORIGIN" ${PARAMETERS:-}
awslocal cloudformation describe-stacks --stack-name "$STACK" --query "Stacks[0].Outputs"
