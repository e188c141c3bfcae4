"""Change feeds: what tells the operator a credential changed, instead of polling for it. Readers of
AWS change streams (DynamoDB Streams, an SQS queue fed by EventBridge or S3 notifications) and the
event shapes they carry; no Kubernetes here (controllers/feeds.py runs them)."""
