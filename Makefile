# `make run` and `make test` each install what they need into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test bench package deploy

STAGE ?= dev

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(INSTALLED)
	$(PY) -m devstack

test: $(INSTALLED)
	$(PY) -m pytest

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
	  --parameter-overrides $(PARAMETERS)
