// pause is the first process of every pod sandbox on the test node, as the upstream pause image's
// is: it holds the pod's namespaces open, reaps orphaned children and exits on SIGINT or SIGTERM.
// Built here because the node has no image registry to pull registry.k8s.io/pause from.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for { // reap every exited child, not just one per signal: signals coalesce
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
