"""Real parts for tests and the demo: kube-apiserver + etcd, moto_server, the operator process."""
