"""The host-activity driver against real processes on this machine and a real (virtual) X display."""

import asyncio
import os
import shutil
import subprocess
import sys
import time

import pytest

from campuspulse.drivers import DeviceError
from campuspulse.drivers.host_activity import HostActivityConfig, HostActivityDriver


def read(apps):
    async def go():
        d = HostActivityDriver(HostActivityConfig(apps=apps))
        await d.open()
        return await d.read()

    return asyncio.run(go())


def test_a_listed_application_running_means_in_use(tmp_path):
    # a process of our own, renamed through a symlink so that its name is unmistakable
    exe = tmp_path / "campuspulse-teaching-app"
    exe.symlink_to(sys.executable)
    proc = subprocess.Popen([str(exe), "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        obs = read(["campuspulse-teaching-app"])
    finally:
        proc.kill()
        proc.wait()
    assert obs.state == "in_use" and obs.values["apps_running"] == 1.0
    assert 0.0 <= obs.values["cpu_percent"] <= 100.0


def test_no_listed_application_means_idle():
    obs = read(["no-such-teaching-app.exe"])
    assert obs.state == "idle" and obs.values["apps_running"] == 0.0


@pytest.fixture
def desktop(monkeypatch):
    """A virtual X display (Debian's Xvfb) for the agent's session; xdotool plays the user."""
    xvfb = shutil.which("Xvfb") or "/usr/bin/Xvfb"
    r, w = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(w), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    monkeypatch.setenv("DISPLAY", f":{number}")
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


def read_idle(**kw):
    async def go():
        d = HostActivityDriver(HostActivityConfig(**kw))
        await d.open()
        return await d.read()

    return asyncio.run(go())


def test_a_board_nobody_touches_is_idle_and_a_touch_makes_it_in_use(desktop):
    time.sleep(1.5)
    untouched = read_idle(idle_after_s=1)
    assert untouched.state == "idle" and untouched.values["input_idle_s"] >= 1.4
    subprocess.run(["xdotool", "mousemove", "200", "150"], check=True, env={**os.environ, "DISPLAY": desktop})
    touched = read_idle(idle_after_s=1)
    assert touched.state == "in_use" and touched.values["input_idle_s"] < 1
    open_but_untouched = read_idle(idle_after_s=60, apps=["no-such-teaching-app.exe"])
    assert open_but_untouched.state == "idle", "input alone is not use when the listed software is not running"


def test_without_a_display_the_driver_says_what_it_needs(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(DeviceError, match="DISPLAY"):
        read_idle(idle_after_s=60)
    with pytest.raises(ValueError, match=r"apps .* idle_after_s"):
        HostActivityConfig()
