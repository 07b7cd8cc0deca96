"""Issue 11: the first install is quiet (the packaging config raises no build warnings)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_building_the_package_prints_no_warning(tmp_path: Path) -> None:
    # The same backend pip uses for `pip install -e .`, without fetching it again.
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in (done.stdout + done.stderr).splitlines()
             if ln.strip() and not ln.startswith("WARNING: Location")]  # the machine's pip.conf
    assert lines == []
    (wheel,) = tmp_path.glob("invitekit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("invitekit/py.typed", "invitekit_service/static/landing.js",
                   "invitekit_service/static/qr.js",
                   "invitekit_service/static/vendor/qrcode-generator/qrcode.js",
                   "invitekit_service/openapi.yaml",
                   "invitekit/proto/external_invite_pb2.pyi", "invitekit_service/landing.py"):
        assert needed in names, needed
    # Only invitekit's own import names go on sys.path: nothing generic like `service`.
    top = {name.split("/")[0] for name in names}
    assert top == {"invitekit", "invitekit_service", f"{wheel.name.split('-')[0]}-"
                   f"{wheel.name.split('-')[1]}.dist-info"}, top
