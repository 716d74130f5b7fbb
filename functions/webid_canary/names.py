"""Names shared by the Lambda and the CDK app: one place, imported by both."""

from __future__ import annotations

from typing import Final

from webid_canary.core.notification import SCHEMA as _NOTIFICATION_SCHEMA
from webid_canary.core.targets import SECRET_PREFIX as _SECRET_PREFIX

PRODUCT: Final = "webid-canary"

# CloudWatch metrics (Powertools EMF).
METRIC_NAMESPACE: Final = "WebIdentityCanary"
SERVICE_NAME: Final = "webid-canary"
METRIC_TARGETS_PROBED: Final = "TargetsProbed"
METRIC_TARGETS_FAILING: Final = "TargetsFailing"
METRIC_TARGETS_IN_ERROR: Final = "TargetsInError"
METRIC_TARGETS_OPEN: Final = "TargetsOpen"
METRIC_PROVIDER_DRIFTS: Final = "ProviderDrifts"
METRIC_CYCLE_DURATION: Final = "CycleDuration"
METRIC_CYCLE_COMPLETED: Final = "CycleCompleted"
METRIC_CYCLE_DEADLINE_HEADROOM: Final = "CycleDeadlineHeadroom"
METRIC_TARGET_FAILING: Final = "TargetFailing"
# Refused AssumeRoleWithWebIdentity calls of real workloads, from CloudTrail (handler.refusal_handler).
METRIC_REAL_REFUSALS: Final = "RealRefusals"
METRIC_PROVIDER_DRIFTING: Final = "ProviderDrifting"
DIMENSION_TARGET: Final = "Target"
DIMENSION_PROVIDER: Final = "Provider"

# Environment variables of the function (read in webid_canary.settings only).
ENV_TARGETS_TABLE: Final = "WEBID_CANARY_TARGETS_TABLE"
ENV_STATE_TABLE: Final = "WEBID_CANARY_STATE_TABLE"
ENV_TOPIC_ARN: Final = "WEBID_CANARY_TOPIC_ARN"
ENV_REMINDER_HOURS: Final = "WEBID_CANARY_REMINDER_HOURS"
ENV_CONCURRENCY: Final = "WEBID_CANARY_CONCURRENCY"
ENV_ALLOW_PRIVATE_ISSUERS: Final = "WEBID_CANARY_ALLOW_PRIVATE_ISSUERS"
ENV_CA_FILE: Final = "WEBID_CANARY_CA_FILE"
ENV_CERT_EXPIRY_DAYS: Final = "WEBID_CANARY_CERT_EXPIRY_DAYS"
ENV_FLAP_MINUTES: Final = "WEBID_CANARY_FLAP_MINUTES"
ENV_EVENT_BUS: Final = "WEBID_CANARY_EVENT_BUS"
ENV_SECURITY_HUB_PRODUCT_ARN: Final = "WEBID_CANARY_SECURITY_HUB_PRODUCT_ARN"

# Organization mode (infra/organization.py builds it; the step handlers read these).
ENV_PLAN_BUCKET: Final = "WEBID_CANARY_PLAN_BUCKET"
ENV_READER_ROLE_NAME: Final = "WEBID_CANARY_READER_ROLE_NAME"
ENV_SHARD_MAX_TARGETS: Final = "WEBID_CANARY_SHARD_MAX_TARGETS"
ENV_SHARD_MAX_ACCOUNTS: Final = "WEBID_CANARY_SHARD_MAX_ACCOUNTS"
ENV_ACCOUNT_METRICS: Final = "WEBID_CANARY_ACCOUNT_METRICS"
ENV_IAM_RATE: Final = "WEBID_CANARY_IAM_RATE"
ENV_LEASE_SECONDS: Final = "WEBID_CANARY_LEASE_SECONDS"
# The reader role every member account gets (StackSet), trusted only by the shard function's role.
READER_ROLE_NAME: Final = "webid-canary-reader"
SHARD_MAX_TARGETS: Final = 2000
SHARD_MAX_ACCOUNTS: Final = 10
METRIC_SHARDS_FAILED: Final = "ShardsFailed"
DIMENSION_ACCOUNT: Final = "Account"

# DynamoDB key names.
TARGETS_KEY: Final = "target_id"
STATE_PK: Final = "pk"

# Secrets Manager: the function may read only secrets under this prefix (the core's rule, shared with infra).
SECRET_PREFIX: Final = _SECRET_PREFIX

# Probe sessions: short and harmless.
PROBE_SESSION_SECONDS: Final = 900
PROBE_SESSION_POLICY: Final = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"ProbeSessionDeniesEverything",'
    '"Effect":"Deny","Action":"*","Resource":"*"}]}'
)

# Notification schema (defined by the core, which builds notifications).
NOTIFICATION_SCHEMA: Final = _NOTIFICATION_SCHEMA

# Powertools adds this dimension to every EMF metric, valued POWERTOOLS_SERVICE_NAME; alarms must match it.
DIMENSION_SERVICE: Final = "service"
ENV_POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
# CycleDeadlineHeadroom: seconds left before the cycle's own deadline when it ends (the alarm threshold uses it).
METRIC_CYCLE_DEADLINE_HEADROOM_UNIT: Final = "Seconds"
# Per-target TargetFailing carries {Target, service} (service from POWERTOOLS_SERVICE_NAME), fleet metrics {service}.
