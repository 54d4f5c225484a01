"""What the tests and benchmarks share: the suite's constants, the HTTP
client, the job helpers, the Socket.IO listener and the fake OpenRouter. The
fixtures built on them are in tests/conftest.py."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-keys"
# The packaged stages' frontend, on an origin of its own so that no default
# can stand in for it.
DEPLOYED_ORIGIN = "https://app.example.test"
STAGES = ("dev", "localstack")
# The stages packaged for AWS, with infra/template.yml merged in.
AWS_STAGES = ("dev", "prod")
INPROCESS_QUEUES = {"JobsQueueName": "inprocess-jobs", "DeadLetterQueueName": "inprocess-jobs-dlq"}
