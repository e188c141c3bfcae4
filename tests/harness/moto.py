"""moto_server as a separate process on 127.0.0.1: the AWS the operator and CLI talk to."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.harness.ports import free_port, wait_for_http_ok
from tests.harness.processes import Process

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class MotoServer:
    folder: Path
    process: Process | None = None
    url: str = ""

    def start(self) -> MotoServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        # moto_server, with DynamoDB calls made atomic (see moto_atomic.py)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = Process("moto_server", [sys.executable, "-m", "tests.harness.moto_atomic", "-H", "127.0.0.1",
                                               "-p", str(port)], self.folder / "moto.log", env).start()
        wait_for_http_ok(f"{self.url}/moto-api/", self.process, 60, "moto_server")
        return self

    def env(self) -> dict[str, str]:
        """What a process needs to talk to this server and nothing else."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
