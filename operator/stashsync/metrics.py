"""Prometheus metrics. Labels carry object references and reasons, never values."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

AWS_CALLS = Counter("stashsync_aws_calls_total",
                    "AWS API calls made (after botocore's retries), by service, operation and result: success, "
                    "throttled, denied, not_found, client_error, server_error or unreachable",
                    ["service", "operation", "result"])
KMS_DECRYPTS = Counter("stashsync_kms_decrypts_total", "KMS Decrypt calls made to open a credential")
SYNCS = Counter("stashsync_syncs_total", "Syncs of SyncedSecrets and unwraps of WrappedSecrets, by kind and "
                "result reason (Synced, Unwrapped, or the failure's reason)", ["kind", "reason"])
SECRET_WRITES = Counter("stashsync_secret_writes_total", "Secrets created or updated", ["kind"])
RECONCILE_SECONDS = Histogram("stashsync_reconcile_duration_seconds", "Time to reconcile one object", ["kind"])
REFRESH_INTERVAL = Gauge("stashsync_refresh_interval_seconds",
                         "How often the object is synced on a timer (0: only on a change); with "
                         "stashsync_last_success_timestamp_seconds it tells a stale object",
                         ["kind", "namespace", "name"])
LAST_SUCCESS = Gauge("stashsync_last_success_timestamp_seconds", "Unix time of the last successful sync",
                     ["kind", "namespace", "name"])
WRAP_TOKENS_CONSUMED = Counter("stashsync_wrap_tokens_consumed_total", "Wrap tokens unwrapped into a Secret")
RESTART_REQUESTS = Counter("stashsync_restart_requests_total",
                           "Workload restarts asked for by rotations, before coalescing")
RESTARTS = Counter("stashsync_restarts_total", "Workload pod-template patches made (after coalescing)", ["kind"])
RESTARTS_IN_PROGRESS = Gauge("stashsync_restarts_in_progress",
                             "Rollouts started by a restart and not yet done (at most the configured cap)")
FEED_EVENTS_RECEIVED = Counter("stashsync_feed_events_received_total",
                               "Change feed records and messages received", ["feed"])
FEED_EVENTS_MATCHED = Counter("stashsync_feed_events_matched_total",
                              "Change feed events that woke at least one SyncedSecret", ["feed"])
FEED_LAG = Gauge("stashsync_feed_lag_seconds", "Age of the newest change a store's feed delivered, when it arrived",
                 ["store"])
FEED_ERRORS = Counter("stashsync_feed_errors_total",
                      "Change feed failures (the feed is then polled around) and dropped foreign messages",
                      ["feed", "reason"])
