module stashsync.dev/tests/node/pause

go 1.24.0
