"""The embedded local environment (moto, a strict STS, HTTPS issuers). Never imported by the Lambda."""
