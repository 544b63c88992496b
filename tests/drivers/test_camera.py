"""The camera driver against an RTSP/1.0 and HTTP snapshot simulator over real TCP."""

import asyncio

import pytest

from campuspulse.drivers import DeviceError
from campuspulse.drivers.camera import CameraConfig, CameraDriver
from tests.simulators.camera import Camera, CameraSimulator
from tests.support.mosquitto import free_port


@pytest.fixture
def camera():
    cam = Camera()
    sim = CameraSimulator(cam)
    yield cam, sim
    sim.stop()


def probe(**kw):
    return asyncio.run(CameraDriver(CameraConfig(timeout_s=1, **kw)).read())


def test_a_live_rtsp_stream_is_in_use(camera):
    _, sim = camera
    obs = probe(url=f"rtsp://127.0.0.1:{sim.rtsp_port}/stream1")
    assert obs.state == "in_use" and obs.values["alive"] == 1.0 and obs.values["latency_ms"] >= 0


def test_a_camera_without_video_is_idle_and_a_locked_one_says_so(camera):
    cam, sim = camera
    cam.mode = "no_stream"
    assert probe(url=f"rtsp://127.0.0.1:{sim.rtsp_port}/stream1").state == "idle"
    cam.mode = "locked"
    with pytest.raises(DeviceError, match="set username and password"):
        probe(url=f"rtsp://127.0.0.1:{sim.rtsp_port}/stream1")


def test_a_locked_camera_takes_digest_credentials_over_rtsp_and_http(camera):
    cam, sim = camera
    cam.mode = "locked"
    rtsp = f"rtsp://127.0.0.1:{sim.rtsp_port}/Streaming/Channels/101"
    assert probe(url=rtsp, username="admin", password="hik12345").state == "in_use"
    assert probe(url=f"rtsp://admin:hik12345@127.0.0.1:{sim.rtsp_port}/Streaming/Channels/101").state == "in_use"
    snapshot = f"http://127.0.0.1:{sim.http_port}/ISAPI/Streaming/channels/101/picture"
    assert probe(check="http", url=snapshot, username="admin", password="hik12345").state == "in_use"
    for kw in ({"url": rtsp}, {"check": "http", "url": snapshot}):
        with pytest.raises(DeviceError, match="refused the credentials of user 'admin'"):
            probe(**kw, username="admin", password="wrong")


def test_http_snapshot_must_be_a_jpeg(camera):
    cam, sim = camera
    assert probe(check="http", url=f"http://127.0.0.1:{sim.http_port}/snap.jpg").state == "in_use"
    cam.mode = "no_stream"
    assert probe(check="http", url=f"http://127.0.0.1:{sim.http_port}/snap.jpg").state == "idle"


def test_an_unreachable_camera_is_an_error():
    with pytest.raises(OSError):
        probe(url=f"rtsp://127.0.0.1:{free_port()}/stream1")
    with pytest.raises(OSError):
        probe(check="http", url=f"http://127.0.0.1:{free_port()}/snap.jpg")


def test_an_http_camera_asking_for_basic_gets_basic(camera):
    """Cameras whose snapshot URL answers `401` with `WWW-Authenticate: Basic` (common on low-cost models)."""
    cam, sim = camera
    cam.mode, cam.http_basic = "locked", True
    snapshot = f"http://127.0.0.1:{sim.http_port}/cgi-bin/snapshot.cgi"
    assert probe(check="http", url=snapshot, username="admin", password="hik12345").state == "in_use"
    with pytest.raises(DeviceError, match="refused the credentials"):
        probe(check="http", url=snapshot, username="admin", password="wrong")
