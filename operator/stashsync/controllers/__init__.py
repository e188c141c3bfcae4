"""The controllers: one module per kind (kopf handler functions, registered by stashsync/handlers.py)
and the flows they run (sync_flow, unwrap_flow), with what they share in memo.py."""
