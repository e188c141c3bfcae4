#!/usr/bin/env bash
# End-to-end on a kind cluster, for machines with Docker and internet (make e2e is the local-node suite;
# this recipe is linted by the test suite). It builds the image, installs the chart as a user
# would, stores a credential in an in-cluster moto server and waits for the Secret.
#
#   tests/e2e/kind.sh            # creates the cluster `stashsync-e2e`, leaves it running
#   KEEP=0 tests/e2e/kind.sh     # deletes it at the end
set -euo pipefail

cd "$(dirname "$0")/../.."
CLUSTER=${CLUSTER:-stashsync-e2e}
MOTO_IMAGE=${MOTO_IMAGE:-motoserver/moto:latest}
KEEP=${KEEP:-1}

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "kind.sh: $tool is needed" >&2; exit 1; }
done

kind create cluster --name "$CLUSTER" --wait 180s
[ "$KEEP" = 1 ] || trap 'kind delete cluster --name "$CLUSTER"' EXIT

docker build -t stashsync:e2e .
kind load docker-image stashsync:e2e --name "$CLUSTER"

# The AWS emulator, inside the cluster.
kubectl create namespace aws
kubectl -n aws create deployment moto --image="$MOTO_IMAGE" --port=5000
kubectl -n aws expose deployment moto --port=5000
kubectl -n aws rollout status deployment/moto --timeout=180s

helm install stashsync charts/stashsync -n stashsync-system --create-namespace -f tests/e2e/kind-values.yaml
kubectl -n stashsync-system rollout status deployment/stashsync --timeout=180s

# A credstash table and a credential, written from this machine through a port-forward.
kubectl -n aws port-forward service/moto 5000:5000 >/dev/null &
FORWARD=$!
trap 'kill $FORWARD 2>/dev/null || true; [ "$KEEP" = 1 ] || kind delete cluster --name "$CLUSTER"' EXIT
sleep 3
export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing \
       AWS_SECRET_ACCESS_KEY=testing
python3 -c 'import boto3; k = boto3.client("kms"); k.create_alias(AliasName="alias/credstash", TargetKeyId=k.create_key()["KeyMetadata"]["KeyId"])'
stashsync setup
stashsync put demo.db.username app
stashsync put demo.db.password e2e-password app=demo

kubectl create namespace demo
kubectl apply -n demo -f deploy/samples/
kubectl -n demo wait --for=condition=Ready syncedsecret/app-db --timeout=180s
kubectl -n demo get secret app-db -o jsonpath='{.data.dsn}' | base64 -d; echo
echo "kind.sh: the Secret converged; peering replicas:"
kubectl get clusterkopfpeerings.kopf.dev -o yaml | grep -c priority
