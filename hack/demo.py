"""`make demo`: the operator's main job on embedded defaults, start to finish.

Starts a local kube-apiserver + etcd and moto_server, runs the operator, creates a KMS key and a
credstash table, stores credentials with `stashsync put`, applies the CredentialStore and
SyncedSecret from deploy/samples/, waits for Ready, prints the Secret (decoded), then stops
everything it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from tests.harness.binaries import find_binaries
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import Kube, ready_condition, wait_for
from tests.harness.moto import MotoServer
from tests.harness.operator_process import OperatorProcess

from stashsync.api import API_VERSION

ROOT = Path(__file__).resolve().parents[1]

NAMESPACE = "demo"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def stashsync(*args: str, env: dict[str, str]) -> None:
    exe = str(Path(sys.executable).parent / "stashsync")
    print(f"    $ stashsync {' '.join(args)}", flush=True)
    subprocess.run([exe, *args], check=True, env=env)


def main() -> int:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="stashsync-demo-"))
    plane, moto, operator = ControlPlane(work / "controlplane", find_binaries()), MotoServer(work / "moto"), None
    try:
        step("starting kube-apiserver + etcd and moto_server")
        plane.start()
        moto.start()
        assert plane.kubeconfig is not None
        kube = Kube(plane.kubeconfig)
        kube.install_crds()
        kube.create_namespace("stashsync-system")
        kube.create_namespace(NAMESPACE)

        step("starting the operator (stashsync run)")
        operator = OperatorProcess(work / "operator", plane.kubeconfig, moto.env()).start()

        step("creating the KMS key alias/credstash and the credstash table")
        env = {**os.environ, **moto.env()}
        kms = boto3.client("kms", endpoint_url=moto.url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        key_id = kms.create_key(Description="stashsync demo")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/credstash", TargetKeyId=key_id)
        stashsync("setup", env=env)
        stashsync("put", "demo.db.username", "app_user", env=env)
        stashsync("put", "demo.db.password", "s3cr3t-from-credstash", "app=demo", env=env)

        step("applying deploy/samples/credentialstore.yaml and deploy/samples/syncedsecret.yaml")
        kube.apply_files([ROOT / "deploy/samples/credentialstore.yaml", ROOT / "deploy/samples/syncedsecret.yaml"],
                         NAMESPACE)
        condition = wait_for(lambda: (c := ready_condition(kube.get(API_VERSION, "SyncedSecret", "app-db", NAMESPACE)))
                             and c["status"] == "True" and c, 60, "SyncedSecret app-db Ready")
        status = kube.read(API_VERSION, "SyncedSecret", "app-db", NAMESPACE)["status"]
        print(f"    SyncedSecret {NAMESPACE}/app-db: Ready={condition['status']} reason={condition['reason']} "
              f"versions={status['syncedVersions']}")

        step(f"Secret {NAMESPACE}/app-db (decoded)")
        for key, value in sorted((kube.secret_data(NAMESPACE, "app-db") or {}).items()):
            print(f"    {key}: {value}")
        print(f"\ndemo finished in {time.monotonic() - started:.1f}s; logs in {work}")
        return 0
    except Exception as exc:
        print(f"demo failed: {exc}\nlogs are in {work}", file=sys.stderr)
        return 1
    finally:
        step("stopping what the demo started")
        if operator is not None:
            operator.stop()
        moto.stop()
        plane.stop()


if __name__ == "__main__":
    raise SystemExit(main())
