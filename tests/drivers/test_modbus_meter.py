"""The Modbus driver against a byte-level meter simulator, over TCP and over RTU through a socat pty pair."""

import asyncio

import pytest

from campuspulse.drivers import DeviceError
from campuspulse.drivers.modbus_meter import ModbusConfig, ModbusDriver
from campuspulse.drivers.modbus_values import decode
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


# 123.456 as IEEE 754 float32 is 0x42F6E979: its four orders (derived from the IEEE 754 encoding, as meter manuals
# tabulate them: ABCD, CDAB, BADC, DCBA)
FLOAT_ORDERS = [
    ([0x42F6, 0xE979], "big", False),
    ([0xE979, 0x42F6], "little", False),
    ([0xF642, 0x79E9], "big", True),
    ([0x79E9, 0xF642], "little", True),
]


@pytest.mark.parametrize("words,order,swap", FLOAT_ORDERS)
def test_float32_in_every_word_and_byte_order(words, order, swap):
    assert decode(words, "float32", order, swap) == pytest.approx(123.456, rel=1e-6)


def test_64_bit_values_in_every_order():
    assert decode([0x0000, 0x0001, 0x0000, 0x0000], "uint64") == 4294967296.0
    assert decode([0x0000, 0x0000, 0x0001, 0x0000], "uint64", "little") == 4294967296.0
    assert decode([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], "int64") == -2.0
    assert decode([0x3FF8, 0x0000, 0x0000, 0x0000], "float64") == 1.5  # 0x3FF8000000000000
    assert decode([0x0000, 0x0000, 0x0000, 0xF83F], "float64", "little", True) == 1.5


@pytest.mark.parametrize(
    "words,kind",
    [
        # SunSpec Information Model Specification, "unimplemented" values: int16 0x8000, uint16 0xFFFF,
        # int32 0x80000000, uint32 0xFFFFFFFF, float NaN; and the 0x7FFF… maximum meters use for "no value"
        ([0x8000], "int16"),
        ([0x7FFF], "int16"),
        ([0xFFFF], "uint16"),
        ([0x8000, 0x0000], "int32"),
        ([0x7FFF, 0xFFFF], "int32"),
        ([0xFFFF, 0xFFFF], "uint32"),
        ([0x8000, 0, 0, 0], "int64"),
        ([0xFFFF] * 4, "uint64"),
        ([0x7FC0, 0x0000], "float32"),
        ([0x7F80, 0x0000], "float32"),
        ([0x7FF8, 0, 0, 0], "float64"),
    ],
)
def test_not_available_values_are_no_reading(words, kind):
    assert decode(words, kind) is None
    if kind.startswith(("int", "uint")):
        assert decode(words, kind, sentinels=False) is not None, "the sentinel check can be turned off"


def test_a_meter_without_a_measurement_reports_no_value_not_a_huge_one():
    m = meter()
    m.holding.update(enumerate([0xFFFF] * 4, start=20))  # a uint64 energy counter not available
    m.holding.update(enumerate([0x0000, 0x0000, 0x0000, 0xF83F], start=24))  # float64 1.5, DCBA
    registers = [
        *REGISTERS,
        {"name": "energy_wh", "address": 20, "type": "uint64"},
        {"name": "factor", "address": 24, "type": "float64", "word_order": "little", "byte_swap": True},
    ]
    sim = ModbusTcpSimulator(m)
    sim.start()
    try:
        values, _ = read_once(ModbusConfig(host="127.0.0.1", port=sim.port, registers=registers, timeout_s=1))
    finally:
        sim.stop()
    assert "energy_wh" not in values and values["factor"] == 1.5 and values["power_w"] == 86.5
