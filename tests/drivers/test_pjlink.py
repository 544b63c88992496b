"""The PJLink driver against a PJLink class 1 simulator over real TCP."""

import asyncio

import pytest

from campuspulse.drivers import DeviceError
from campuspulse.drivers.pjlink import PjlinkConfig, PjlinkDriver
from tests.simulators.pjlink import PjlinkSimulator, Projector


@pytest.fixture
def projector():
    p = Projector()
    sim = PjlinkSimulator(p)
    sim.start()
    yield p, sim.port
    sim.stop()


def read(port, **kw):
    return asyncio.run(PjlinkDriver(PjlinkConfig(host="127.0.0.1", port=port, timeout_s=0.5, **kw)).read())


@pytest.mark.parametrize("power,state", [("1", "in_use"), ("0", "off"), ("2", "idle"), ("3", "idle")])
def test_power_status_gives_the_usage_state(projector, power, state):
    p, port = projector
    p.power = power
    obs = read(port)
    assert obs.state == state and obs.values == {"power": float(power), "errors": 0.0}
    assert p.commands == ["%1POWR ?", "%1ERST ?"]


def test_a_lamp_error_is_a_fault(projector):
    p, port = projector
    p.errors = "020000"
    obs = read(port)
    assert obs.state == "fault" and obs.values["errors"] == 1.0


def test_authentication_with_the_pjlink_md5_scheme(projector):
    p, port = projector
    p.password = "JBMIAProjectorLink"
    assert read(port, password="JBMIAProjectorLink").state == "in_use"
    with pytest.raises(DeviceError, match="authentication failed"):
        read(port, password="wrong")
    with pytest.raises(DeviceError, match="asks for a PJLink password"):
        read(port)


def test_silence_and_a_closed_port_are_errors(projector):
    p, port = projector
    p.silent = True
    with pytest.raises(DeviceError, match="no answer"):
        read(port)
    with pytest.raises(OSError):
        read(1)  # nothing listens there


def test_the_digest_matches_the_worked_example_of_the_pjlink_specification():
    driver = PjlinkDriver(PjlinkConfig(host="x", password="JBMIAProjectorLink"))
    assert driver._auth_prefix("PJLINK 1 498e4a67") == "5d8409bc1c3fa39749434aa3a5c38682"


@pytest.mark.parametrize("ending", [b"\r", b"\r\n"])
def test_projectors_that_answer_in_lower_case_are_read(projector, ending):
    """openhab/openhab-addons#6725: a projector answers `%1powr=0` to `%1POWR ?`; sy1vain/node-pjlink#12: an
    Optoma greets with `pjlink 0`; multiOTP/pjlink#3: a Christie LX1750 sends its seed in lower case, which the
    digest must use as sent."""
    p, port = projector
    p.lowercase, p.ending, p.power = True, ending, "0"
    assert read(port).state == "off"
    p.power, p.password, p.seed = "1", "JBMIAProjectorLink", "498e4a67"
    assert read(port, password="JBMIAProjectorLink").state == "in_use"
    p.errors = "err3"  # unavailable time, in lower case
    with pytest.raises(DeviceError, match="unavailable time"):
        read(port, password="JBMIAProjectorLink")
