"""Nothing leaves the machine: `meshfer predict` and `meshfer serve` (one request) run under `strace -f` with a fresh,
empty HOME. Any connect/sendto/sendmsg to an address that is not loopback, or to port 53 (a DNS lookup), fails the
test, and so does any file left under HOME (matplotlib's font cache aside: a cache of the installed fonts).

This is what catches the libraries' own traffic: onnxruntime's telemetry (off through ORT_DISABLE_TELEMETRY, set by
`import meshfer`) and MediaPipe's usage statistics to play.googleapis.com (kept from the network by meshfer.native).

Needs Debian's strace and a kernel that lets it ptrace its child. Without strace the tests are skipped with the
reason; with MESHFER_REQUIRE_BROWSER=1 (CI: .ci/run installs strace with the browsers) that is a failure. A
strace that cannot trace (ptrace refused) is always a failure, never a skip."""
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REQUIRE_BROWSER

PHOTO = FIXTURES / "faces" / "eileen_collins.jpg"
CALLS = "connect,sendto,sendmsg,sendmmsg"
ALLOWED_UNDER_HOME = re.compile(r"^\.cache/matplotlib/fontlist-v[\d.]+\.json$")
# an address in a traced call: sin_port=htons(53), sin_addr=inet_addr("10.0.0.1") / inet_pton(AF_INET6, "::1", ...)
PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
ADDRESS = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6?, "([^"]+)"')


@pytest.fixture(scope="module")
def strace() -> str:
    found = shutil.which("strace")
    if not found:
        reason = "needs strace (Debian: apt-get install strace)"
        if REQUIRE_BROWSER:
            pytest.fail(f"{reason} (MESHFER_REQUIRE_BROWSER=1, as in CI, makes it a failure)")
        pytest.skip(reason)
    probe = subprocess.run([found, "-f", "-qq", "-e", "trace=none", "true"], capture_output=True, text=True)
    assert probe.returncode == 0, f"strace cannot trace here (ptrace refused?): {probe.stderr.strip()}"
    return found


def fresh_env(home: Path) -> dict[str, str]:
    """This environment with HOME empty and nothing pointing caches or configs elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPLCONFIGDIR"))}
    return {**env, "HOME": str(home)}


def outside_traffic(trace: Path) -> list[str]:
    """The traced calls that reach past this machine: a non-loopback address, or port 53 anywhere."""
    bad = []
    for line in trace.read_text(errors="replace").splitlines():
        if "AF_INET" not in line:
            continue
        port, address = PORT.search(line), ADDRESS.search(line)
        host = address and (address.group(1) or address.group(2))
        if (port and int(port.group(1)) == 53) or (host and not ipaddress.ip_address(host).is_loopback):
            bad.append(line)
    return bad


def left_files(home: Path) -> list[str]:
    files = [p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file() or p.is_symlink()]
    return [f for f in files if not ALLOWED_UNDER_HOME.match(f)]


def traced(strace: str, trace: Path, *args: str) -> list[str]:
    return [strace, "-f", "-qq", "-o", str(trace), "-e", f"trace={CALLS}", sys.executable, "-m", "meshfer.cli", *args]


def test_predict_sends_nothing_and_leaves_nothing(strace, tmp_path):
    home, trace = tmp_path / "home", tmp_path / "trace.txt"
    home.mkdir()
    done = subprocess.run(traced(strace, trace, "predict", str(PHOTO), "--json"), cwd=tmp_path,
                          env=fresh_env(home), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert '"expression"' in done.stdout  # it did predict: the traffic check below saw a real run
    assert trace.stat().st_size > 0
    assert outside_traffic(trace) == []
    assert left_files(home) == []


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"meshfer serve not ready in {timeout} s")


def the_traced_child(strace_pid: int) -> int:
    """strace's child: `meshfer serve` itself (signalled directly, so strace sees it shut down and exit)."""
    children = Path(f"/proc/{strace_pid}/task/{strace_pid}/children").read_text().split()
    assert children, "strace has no child process"
    return int(children[0])


def test_serve_sends_nothing_and_leaves_nothing(strace, tmp_path):
    home, trace = tmp_path / "home", tmp_path / "trace.txt"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(traced(strace, trace, "serve", "--port", str(port)), cwd=tmp_path,
                               env=fresh_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_health(url, process)
        request = urllib.request.Request(url + "/v1/predict", data=PHOTO.read_bytes(),
                                         headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200 and b'"expression"' in response.read()
        os.kill(the_traced_child(process.pid), signal.SIGTERM)  # shutting down is when loggers like to flush
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, process.stderr.read()
    assert outside_traffic(trace) == []
    assert left_files(home) == []


def test_the_check_tells_outside_traffic_from_loopback(tmp_path):
    """The parser itself, on strace's own notation: a lookup, an outside address and loopback."""
    trace = tmp_path / "trace.txt"
    lines = [
        '12 connect(5, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '12 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2a00:1450:4001::200e", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH',
        '12 sendto(7, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("142.250.1.1")}, 16) = 1',
        '12 connect(8, {sa_family=AF_INET, sin_port=htons(8000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '12 connect(9, {sa_family=AF_INET6, sin6_port=htons(8000), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '12 connect(10, {sa_family=AF_UNIX, sun_path="/dev/null/meshfer-sends-nothing"}, 34) = -1 ENOTDIR',
    ]
    trace.write_text("\n".join(lines))
    assert outside_traffic(trace) == lines[:3]
