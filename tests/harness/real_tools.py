"""The real credstash 1.17.1 and credsmash 3.0.2 CLIs, in a venv of their own (cached in .cache/),
so that interoperability is tested against what users actually run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness.binaries import ROOT

# cryptography: awswrap 0.1.3 hands Fernet its key in standard base64 ('+', '/'), which the Fernet of
# cryptography 51 and later refuses; 50.0.2 reads it, as the versions awswrap was released against did.
PINS = ["credstash==1.17.1", "credsmash==3.0.2", "aws-secrets-wrapper==0.1.3", "fernet==1.0.1", "yatc==0.1.1",
        "cryptography==50.0.2"]


def tools_venv() -> Path:
    folder = ROOT / ".cache" / "interop" / "_".join(p.replace("==", "-") for p in PINS)
    stamp = folder / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
        # aws-secrets-wrapper declares Python >= 3.12 but its wrap module (all we drive) runs on 3.11.
        subprocess.run([str(folder / "bin" / "pip"), "install", "--quiet", "--ignore-requires-python", *PINS],
                       check=True)
        stamp.touch()
    return folder / "bin"


def run(tool: Path, *args: str, env: dict[str, str], stdin: bytes | None = None) -> bytes:
    # cwd: the tools' venv (ignored), since credstash writes credstash.log into the working directory
    done = subprocess.run([str(tool), *args], env=env, input=stdin, capture_output=True, check=False,
                          cwd=tool.parent.parent)
    if done.returncode != 0:
        raise AssertionError(f"{tool.name} {args[:3]} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return done.stdout
