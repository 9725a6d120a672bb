"""Audit-log formats (CloudTrail, Kubernetes audit, GCP Cloud Audit Logs) and the k8s audit webhook.

Each format turns one decoded record into `Event(kind="audit")` whose entity is the principal,
name is the API action, attributes hold the original record under "raw" plus flat ECS fields.
"""
