"""A Modbus power meter answering function codes 3 and 4, byte for byte, over TCP (MBAP) or RTU (CRC-16)."""

import socketserver
import struct
import threading
from dataclasses import dataclass, field

import serial

from tests.simulators.serial_devices import PtySimulator


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC-16 (polynomial 0xA001), low byte first."""
    crc = 0xFFFF
    for b in frame:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


@dataclass
class Meter:
    """Register maps of one meter; `silent` makes it stop answering."""

    unit: int = 1
    holding: dict[int, int] = field(default_factory=dict)
    input: dict[int, int] = field(default_factory=dict)
    silent: bool = False

    def set_float(self, table: str, address: int, value: float) -> None:
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))
        getattr(self, table).update({address: hi, address + 1: lo})

    def pdu(self, request: bytes) -> bytes:
        """The response PDU to a request PDU (exception 1: illegal function, 2: illegal data address)."""
        fc = request[0]
        if fc not in (3, 4) or len(request) != 5:
            return bytes([fc | 0x80, 1])
        address, count = struct.unpack(">HH", request[1:5])
        table = self.holding if fc == 3 else self.input
        if not all(a in table for a in range(address, address + count)):
            return bytes([fc | 0x80, 2])
        data = b"".join(struct.pack(">H", table[a]) for a in range(address, address + count))
        return bytes([fc, len(data)]) + data


class ModbusTcpSimulator:
    """Serves a Meter as Modbus TCP on 127.0.0.1:<port>."""

    def __init__(self, meter: Meter) -> None:
        meter_ref = meter

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                while True:
                    header = self.request.recv(7)
                    if len(header) < 7:
                        return
                    tid, proto, length, unit = struct.unpack(">HHHB", header)
                    pdu = self.request.recv(length - 1)
                    if meter_ref.silent or unit != meter_ref.unit:
                        continue
                    answer = meter_ref.pdu(pdu)
                    self.request.sendall(struct.pack(">HHHB", tid, proto, len(answer) + 1, unit) + answer)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ModbusRtuSimulator(PtySimulator):
    """Serves a Meter as Modbus RTU on the far end of a pty pair."""

    def __init__(self, path: str, meter: Meter) -> None:
        super().__init__(path)
        self.meter = meter
        self.bad_crc = 0
        self._buf = b""

    def feed(self, port: serial.Serial, chunk: bytes) -> None:
        self._buf += chunk
        while len(self._buf) >= 8:  # unit, fc, address, count, crc
            frame, self._buf = self._buf[:8], self._buf[8:]
            if crc16(frame[:6]) != frame[6:]:
                self.bad_crc += 1
                self._buf = b""
                return
            if self.meter.silent or frame[0] != self.meter.unit:
                continue
            body = bytes([frame[0]]) + self.meter.pdu(frame[1:6])
            port.write(body + crc16(body))
