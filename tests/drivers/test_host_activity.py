"""The host-activity driver against real processes on this machine."""

import asyncio
import subprocess
import sys
import time

from campuspulse.drivers import HostActivityConfig, HostActivityDriver


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
