"""The serial line driver against byte-exact simulators through a real socat pty pair."""

import asyncio

import pytest
import yaml

from campuspulse.drivers import DeviceError
from campuspulse.drivers.serial_line import SerialLineConfig, SerialLineDriver, parse_mt_sics
from tests.simulators.serial_devices import Balance, LgDisplay, ScpiMeter, SerialSimulator
from tests.support.serial_pty import PtyPair


@pytest.fixture
def pty(tmp_path):
    pair = PtyPair(tmp_path)
    pair.plug()
    yield pair
    pair.unplug()


def attach(pty, device):
    sim = SerialSimulator(pty.far, device.respond)
    sim.start()
    return sim


def run(coro):
    return asyncio.run(coro)


def test_balance_weight_and_stability_are_read(pty):
    balance = Balance(weight_g=123.45, stable=True)
    sim = attach(pty, balance)

    async def go():
        d = SerialLineDriver(SerialLineConfig(port=pty.device, profile="mt_sics", timeout_s=1))
        await d.open()
        first = await d.read()
        balance.weight_g, balance.stable = 130.0, False
        second = await d.read()
        await d.close()
        return first, second

    first, second = run(go())
    sim.stop()
    assert first.values == {"weight_g": 123.45, "stable": 1.0}
    assert second.values == {"weight_g": 130.0, "stable": 0.0}
    assert sim.received == ["SI", "SI"], "the driver sends SI, byte for byte"


def test_garbage_silence_and_overload_are_device_errors_and_the_next_read_recovers(pty):
    balance = Balance(weight_g=5.0)
    sim = attach(pty, balance)

    async def go():
        d = SerialLineDriver(SerialLineConfig(port=pty.device, profile="mt_sics", timeout_s=0.3))
        await d.open()
        errors = []
        for mode in ("garbage", "silent", "overload"):
            balance.mode = mode
            with pytest.raises(DeviceError) as exc:
                await d.read()
            errors.append(str(exc.value))
        balance.mode = "ok"
        await asyncio.sleep(0.1)
        good = await d.read()
        await d.close()
        return errors, good

    errors, good = run(go())
    sim.stop()
    assert "not an MT-SICS answer" in errors[0]
    assert "no answer" in errors[1]
    assert "overload" in errors[2]
    assert good.values["weight_g"] == 5.0, "a late or garbled answer does not poison the next read"


def test_unplugged_device_fails_and_works_again_once_plugged_back(pty):
    sim = attach(pty, Balance(weight_g=1.0))

    async def go():
        d = SerialLineDriver(SerialLineConfig(port=pty.device, profile="mt_sics", timeout_s=0.5))
        await d.open()
        assert (await d.read()).values["weight_g"] == 1.0
        pty.unplug()
        with pytest.raises(OSError):  # DeviceError is an OSError too
            await d.read()
        await d.close()
        with pytest.raises(OSError):
            await d.open()  # nothing to open while unplugged
        pty.plug()
        sim2 = attach(pty, Balance(weight_g=2.0))
        await d.open()
        value = (await d.read()).values["weight_g"]
        await d.close()
        sim2.stop()
        return value

    assert run(go()) == 2.0
    sim.stop()


def measure_once(pty, meter: ScpiMeter, **config):
    """(the identity the driver read on open, one observation) of a SCPI meter on the pty pair."""
    sim = attach(pty, meter)

    async def go():
        d = SerialLineDriver(SerialLineConfig(port=pty.device, profile="scpi", timeout_s=0.5, **config))
        await d.open()
        try:
            return d.identity, await d.read()
        finally:
            await d.close()

    try:
        return run(go())
    finally:
        sim.stop()


def test_scpi_instrument_is_identified_and_measured(pty):
    identity, obs = measure_once(pty, ScpiMeter(volts=3.3), command="MEAS:VOLT:DC?", field="voltage_v")
    assert identity == "CAMPUSPULSE-SIM,DMM-1,0001,1.0"
    assert obs.values == {"voltage_v": 3.3}


@pytest.mark.parametrize(
    "answer,expected",
    [
        ("S S      100.00 g", {"weight_g": 100.0, "stable": 1.0}),
        ("S D     -0.5 kg", {"weight_kg": -0.5, "stable": 0.0}),
    ],
)
def test_mt_sics_answers_parse(answer, expected):
    assert parse_mt_sics(answer) == expected


@pytest.mark.parametrize("answer", ["S I", "S -", "ES", "EL", "", "S S abc g"])
def test_mt_sics_error_answers_are_device_errors(answer):
    with pytest.raises(DeviceError):
        parse_mt_sics(answer)


def test_config_mistakes_are_named():
    with pytest.raises(ValueError, match="needs `command`"):
        SerialLineConfig(port="/dev/x", profile="scpi")
    with pytest.raises(ValueError, match="not a regular expression"):
        SerialLineConfig(port="/dev/x", command="R", pattern="(unclosed")


def test_a_flat_panel_reports_power_over_the_lg_protocol(pty):
    panel = LgDisplay(set_id=1, on=True)
    sim = SerialSimulator(pty.far, panel.respond, terminator=b"\r")
    sim.start()

    async def go():
        d = SerialLineDriver(SerialLineConfig(port=pty.device, profile="lg_display", set_id=1, timeout_s=1))
        await d.open()
        on = await d.read()
        panel.on = False
        standby = await d.read()
        await d.close()
        return on, standby

    on, standby = run(go())
    sim.stop()
    assert (on.values, standby.values) == ({"power_on": 1.0}, {"power_on": 0.0})
    assert sim.received == ["ka 01 ff", "ka 01 ff"], "the driver sends the LG power query, byte for byte"


def test_a_panel_with_another_set_id_stays_silent_and_that_is_a_device_error(pty):
    sim = SerialSimulator(pty.far, LgDisplay(set_id=2).respond, terminator=b"\r")
    sim.start()

    async def go():
        d = SerialLineDriver(SerialLineConfig(port=pty.device, profile="lg_display", set_id=1, timeout_s=0.3))
        await d.open()
        try:
            with pytest.raises(DeviceError, match="no answer to 'ka 01 ff'"):
                await d.read()
        finally:
            await d.close()

    run(go())
    sim.stop()


def test_a_scpi_meter_ending_answers_with_lf_and_never_identifying_still_measures(pty):
    """IEEE 488.2 ends a response message with NL (LF) alone, which instruments keep on their serial ports; some
    never answer *IDN? in the ending configured: the measurement is what counts."""
    meter = ScpiMeter(volts=2.5, ending=b"\n", identifies=False)
    identity, obs = measure_once(pty, meter, command="MEAS:VOLT:DC?", field="voltage_v")
    assert identity is None and obs.values == {"voltage_v": 2.5}


@pytest.mark.parametrize(
    "readings,index,expected",
    [
        (("+1.23450000E+00", "+5.67800000E-03"), 1, {"current_a": 0.005678}),
        # SCPI-99 / Keysight: 9.91E37 is NAN, 9.9E37 +INF (overload): no reading, never a number (Keysight
        # N1911A/1912A Programming Guide '<NAN> Definition'; Agilent 54620A 'Infinity representation')
        (("+9.91000000E+37",), 0, {}),
        (("+9.90000000E+37", "+1.0E+00"), 0, {}),
        (("-9.90000000E+37",), 0, {}),
    ],
)
def test_scpi_answers_with_several_values_or_no_reading(pty, readings, index, expected):
    meter = ScpiMeter(readings=readings, ending=b"\n")
    _, obs = measure_once(pty, meter, command="READ?", field="current_a", index=index)
    assert obs.values == expected


def test_mt_sics_compound_units_and_every_documented_status():
    # derived: MT-SICS answers in the unit lb:oz (pounds and ounces) as `pounds:ounces`
    assert parse_mt_sics("S S     12:07.50 lb:oz") == {"weight_lb": 12.46875, "stable": 1.0}
    with pytest.raises(DeviceError, match="cannot execute"):
        parse_mt_sics("S L")
    with pytest.raises(DeviceError, match="only lb:oz"):
        parse_mt_sics("S S 1:02 kg:g")


def test_a_panel_silent_in_standby_is_off_when_configured_so(pty):
    panel = LgDisplay(set_id=1, on=True, silent_in_standby=True)  # derived: the standby silence the issue reports
    sim = SerialSimulator(pty.far, panel.respond, terminator=b"\r")
    sim.start()

    async def go():
        config = SerialLineConfig.model_validate(
            yaml.safe_load(f"{{port: {pty.device}, profile: lg_display, silent_means: off, timeout_s: 0.3}}")
        )
        d = SerialLineDriver(config)
        await d.open()
        try:
            on = await d.read()
            panel.on = False
            standby = await d.read()
        finally:
            await d.close()
        return on, standby

    on, standby = run(go())
    sim.stop()
    assert (on.state, on.values) == (None, {"power_on": 1.0})
    assert (standby.state, standby.values) == ("off", {}), "silence is standby, not a fault"
