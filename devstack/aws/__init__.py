"""AWS on loopback, for the tests and `make run`: API Gateway, Lambda's
execution environments, SQS event sources and schedules, and the packaged
template run as a whole."""
