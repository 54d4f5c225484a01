# `make run` and `make test` each install what they need into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test bench package deploy deploy-localstack browser

STAGE ?= dev

$(INSTALLED): requirements.txt requirements-dev.txt notifier/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(INSTALLED)
	$(PY) -m devstack

test: $(INSTALLED) browser
	$(PY) -m pytest

# The browser tests drive Debian's Chromium (browser downloads are not
# possible); install it when it is missing and apt-get may be used.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	} || echo "Chromium is not installed: the browser tests will be skipped"

bench: $(INSTALLED)
	$(PY) -m bench

# The SAM templates and Lambda bundle for STAGE, built offline into infra/build/.
package: $(INSTALLED)
	$(PY) -m infra.package $(STAGE)

# Needs the AWS CLI and credentials; see docs/operations.md for the parameters.
deploy: package
	aws cloudformation package --template-file infra/build/$(STAGE)/sam.yaml \
	  --s3-bucket $(DEPLOY_BUCKET) --output-template-file infra/build/$(STAGE)/packaged.yaml
	aws cloudformation deploy --template-file infra/build/$(STAGE)/packaged.yaml \
	  --stack-name ai-content-generator-$(STAGE) \
	  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --parameter-overrides Stage=$(STAGE) $(PARAMETERS)
	$(PY) -m infra.publish_web ai-content-generator-$(STAGE)

# The localstack stage into LocalStack: needs Docker (localstack-compose.yml
# up) and awslocal; see docs/operations.md.
deploy-localstack: $(INSTALLED)
	PYTHON=$(PY) infra/deploy-localstack.sh
