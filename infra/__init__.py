"""The CDK app of webid-canary."""
