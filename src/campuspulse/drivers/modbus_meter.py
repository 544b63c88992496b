"""Modbus power meters and current sensors (pymodbus 3), over TCP or RTU on a serial line.

Power draw is the common way to tell an instrument is in use. Each read fetches the configured
registers (holding or input), decodes them (16/32/64-bit integers or IEEE 754 float32/float64, in any word
and byte order: `modbus_values`), scales them, and returns them as values; a "not available" value (0x8000…,
0x7FFF…, all ones, NaN) is left out. A Modbus exception, a timeout or a lost link raise
DeviceError/OSError, so the agent reports `fault` and reconnects with backoff. Tested against a
byte-level Modbus TCP and RTU (CRC-16) simulator.
"""

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from campuspulse.drivers.base import DeviceError, Observation
from campuspulse.drivers.modbus_values import WORDS, RegisterType, decode


class Register(BaseModel):
    """One value read from the meter."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    address: int = Field(ge=0, le=65535, description="0-based register address")
    kind: Literal["holding", "input"] = "holding"
    type: RegisterType = "uint16"
    scale: float = 1.0
    word_order: Literal["big", "little"] = Field("big", description="big: high word first (ABCD); little: CDAB")
    byte_swap: bool = Field(False, description="each word's bytes swapped (BADC, or DCBA with little)")
    sentinels: bool = Field(True, description="0x8000…, 0x7FFF…, all ones and NaN mean no value")


class ModbusConfig(BaseModel):
    """Options of the `modbus` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["modbus"] = "modbus"
    transport: Literal["tcp", "rtu"] = "tcp"
    host: str | None = None
    port: int = Field(502, ge=1, le=65535)
    serial_port: str | None = Field(None, description="rtu: e.g. /dev/ttyUSB0")
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    device_id: int = Field(1, ge=0, le=247)
    timeout_s: float = Field(2.0, gt=0)
    registers: list[Register] = Field(min_length=1)

    @model_validator(mode="after")
    def _where(self) -> "ModbusConfig":
        if self.transport == "tcp" and not self.host:
            raise ValueError("transport tcp needs `host`")
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport rtu needs `serial_port`")
        return self


class ModbusDriver:
    """A Modbus meter."""

    def __init__(self, config: ModbusConfig) -> None:
        self.config = config
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None

    async def open(self) -> None:
        """Connect; OSError when the meter cannot be reached."""
        c = self.config
        if c.transport == "tcp":
            assert c.host is not None
            client: AsyncModbusTcpClient | AsyncModbusSerialClient = AsyncModbusTcpClient(
                c.host, port=c.port, timeout=c.timeout_s, retries=0, reconnect_delay=0
            )
        else:
            assert c.serial_port is not None
            client = AsyncModbusSerialClient(
                c.serial_port,
                baudrate=c.baudrate,
                parity=c.parity,
                stopbits=c.stopbits,
                timeout=c.timeout_s,
                retries=0,
                reconnect_delay=0,
            )
        if not await client.connect():
            client.close()
            raise OSError(f"modbus {c.transport}: cannot connect to {c.host or c.serial_port}")
        self._client = client

    async def close(self) -> None:
        """Disconnect."""
        if self._client is not None:
            self._client.close()
        self._client = None

    async def read(self) -> Observation:
        """Read and decode every configured register."""
        client, c = self._client, self.config
        if client is None:
            raise DeviceError("modbus meter is not connected")
        values: dict[str, float] = {}
        for reg in c.registers:
            call = client.read_holding_registers if reg.kind == "holding" else client.read_input_registers
            try:
                result = await call(reg.address, count=WORDS[reg.type], device_id=c.device_id)
            except ModbusException as exc:
                raise DeviceError(f"modbus {reg.name} @ {reg.address}: {exc}") from None
            if result.isError():
                raise DeviceError(f"modbus {reg.name} @ {reg.address}: the meter answered {result}")
            value = decode(list(result.registers), reg.type, reg.word_order, reg.byte_swap, reg.sentinels)
            if value is not None:
                values[reg.name] = value * reg.scale
        return Observation(int(time.time() * 1000), values)
