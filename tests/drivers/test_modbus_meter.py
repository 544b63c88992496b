"""The Modbus driver against a byte-level meter simulator, over TCP and over RTU through a socat pty pair."""

import asyncio

import pytest

from campuspulse.drivers import DeviceError
from campuspulse.drivers.modbus_meter import ModbusConfig, ModbusDriver
from tests.simulators.modbus_meter import Meter, ModbusRtuSimulator, ModbusTcpSimulator, crc16
from tests.support.serial_pty import PtyPair

REGISTERS = [
    {"name": "power_w", "address": 0, "type": "float32"},
    {"name": "voltage_v", "address": 2, "type": "uint16", "scale": 0.1},
    {"name": "current_a", "address": 10, "kind": "input", "type": "int16", "scale": 0.001},
]


def meter() -> Meter:
    m = Meter()
    m.set_float("holding", 0, 86.5)
    m.holding[2] = 2305
    m.input[10] = 390
    return m


def read_once(config):
    async def go():
        d = ModbusDriver(config)
        await d.open()
        try:
            return (await d.read()).values, d
        finally:
            await d.close()

    return asyncio.run(go())


def test_tcp_meter_values_are_decoded_and_scaled():
    m = meter()
    sim = ModbusTcpSimulator(m)
    sim.start()
    try:
        values, _ = read_once(ModbusConfig(host="127.0.0.1", port=sim.port, registers=REGISTERS, timeout_s=1))
    finally:
        sim.stop()
    assert values["power_w"] == 86.5
    assert values["voltage_v"] == pytest.approx(230.5)
    assert values["current_a"] == pytest.approx(0.39)


def test_rtu_meter_over_a_serial_line(tmp_path):
    pty = PtyPair(tmp_path)
    pty.plug()
    sim = ModbusRtuSimulator(pty.far, meter())
    sim.start()
    try:
        config = ModbusConfig(transport="rtu", serial_port=pty.device, registers=REGISTERS, timeout_s=1)
        values, _ = read_once(config)
    finally:
        sim.stop()
        pty.unplug()
    assert values["power_w"] == 86.5 and sim.bad_crc == 0


def test_an_illegal_address_and_a_silent_meter_are_device_errors():
    m = meter()
    sim = ModbusTcpSimulator(m)
    sim.start()

    async def go(registers):
        d = ModbusDriver(ModbusConfig(host="127.0.0.1", port=sim.port, registers=registers, timeout_s=0.5))
        await d.open()
        try:
            await d.read()
        finally:
            await d.close()

    try:
        with pytest.raises(DeviceError, match="power_w"):
            asyncio.run(go([{"name": "power_w", "address": 500}]))
        m.silent = True
        with pytest.raises(OSError):
            asyncio.run(go(REGISTERS))
    finally:
        sim.stop()


def test_an_unreachable_meter_cannot_be_opened():
    async def go():
        await ModbusDriver(ModbusConfig(host="127.0.0.1", port=1, registers=REGISTERS, timeout_s=0.5)).open()

    with pytest.raises(OSError):
        asyncio.run(go())


def test_crc16_matches_the_modbus_specification_example():
    # read 2 holding registers at 0x0000 from unit 1: 01 03 00 00 00 02, CRC C4 0B
    assert crc16(bytes.fromhex("010300000002")) == bytes.fromhex("C40B")


def test_config_names_what_is_missing():
    with pytest.raises(ValueError, match="needs `host`"):
        ModbusConfig(registers=REGISTERS)
    with pytest.raises(ValueError, match="needs `serial_port`"):
        ModbusConfig(transport="rtu", registers=REGISTERS)
