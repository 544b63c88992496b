"""Serial device simulators speaking their protocol byte for byte on the far end of a pty pair."""

import threading
from collections.abc import Callable
from dataclasses import dataclass

import serial


class PtySimulator(threading.Thread):
    """A device on the far end of a pty pair: `feed` gets the bytes that arrive and writes the answers."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self._stop_event = threading.Event()
        self.ready = threading.Event()

    def start(self) -> None:
        """Start answering; returns once the port is open (opening it discards what was sent before)."""
        super().start()
        if not self.ready.wait(5):
            raise RuntimeError(f"the simulator could not open {self.path}")

    def run(self) -> None:
        port = serial.Serial(self.path, 9600, timeout=0.05)
        self.ready.set()
        try:
            while not self._stop_event.is_set():
                try:
                    chunk = port.read(256)
                except (serial.SerialException, OSError):
                    return  # the pty went away: the device was unplugged
                if chunk:
                    self.feed(port, chunk)
        finally:
            port.close()

    def feed(self, port: serial.Serial, chunk: bytes) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


class SerialSimulator(PtySimulator):
    """Answers each command line (CR LF-terminated unless told) with what `respond` returns (None: silent)."""

    def __init__(self, path: str, respond: Callable[[str], bytes | None], terminator: bytes = b"\r\n") -> None:
        super().__init__(path)
        self.respond, self.terminator = respond, terminator
        self.received: list[str] = []
        self._buf = b""

    def feed(self, port: serial.Serial, chunk: bytes) -> None:
        self._buf += chunk
        while self.terminator in self._buf:
            line, self._buf = self._buf.split(self.terminator, 1)
            command = line.decode("ascii", "replace")
            self.received.append(command)
            answer = self.respond(command)
            if answer is not None:
                port.write(answer)


@dataclass
class Balance:
    """A Mettler-Toledo balance answering MT-SICS level 0 (`SI`, `S`, `I4`)."""

    weight_g: float = 0.0
    stable: bool = True
    mode: str = "ok"  # ok | garbage | silent | overload

    def respond(self, command: str) -> bytes | None:
        if self.mode == "silent":
            return None
        if self.mode == "garbage":
            return b"\x00\xff#@!\r\n"
        if self.mode == "overload":
            return b"S +\r\n"
        if command in ("SI", "S"):
            return f"S {'S' if self.stable else 'D'} {self.weight_g:>10.2f} g\r\n".encode()
        if command == "I4":
            return b'I4 A "B123456789"\r\n'
        return b"ES\r\n"


@dataclass
class ScpiMeter:
    """A SCPI digital multimeter: `*IDN?`, `MEAS:VOLT:DC?` and `READ?` (`readings`, comma-separated)."""

    volts: float = 1.2345
    ending: bytes = b"\r\n"  # many SCPI instruments end answers with LF alone
    identifies: bool = True
    readings: tuple[str, ...] = ("+1.23450000E+00", "+5.67800000E-03")

    def respond(self, command: str) -> bytes | None:
        if command == "*IDN?":
            return b"CAMPUSPULSE-SIM,DMM-1,0001,1.0" + self.ending if self.identifies else None
        if command.upper() in ("MEAS:VOLT:DC?", "MEASURE:VOLTAGE:DC?"):
            return f"{self.volts:+.8E}".encode() + self.ending
        if command.upper() == "READ?":
            return ",".join(self.readings).encode() + self.ending
        return b'-113,"Undefined header"' + self.ending


@dataclass
class LgDisplay:
    """A flat panel speaking the LG commercial-display RS-232C protocol (power: `ka <id> <data>` CR)."""

    set_id: int = 1
    on: bool = True
    silent_in_standby: bool = False  # models whose serial port says nothing while the panel is in standby

    def respond(self, command: str) -> bytes | None:
        if self.silent_in_standby and not self.on:
            return None
        parts = command.split()
        if len(parts) != 3 or parts[0] != "ka":
            return None  # LG panels ignore what they do not understand
        if int(parts[1], 16) not in (0, self.set_id):
            return None  # addressed to another panel
        if parts[2] == "ff":
            return f"a {self.set_id:02x} OK{1 if self.on else 0:02x}x".encode()
        if parts[2] in ("00", "01"):
            self.on = parts[2] == "01"
            return f"a {self.set_id:02x} OK{parts[2]}x".encode()
        return f"a {self.set_id:02x} NG{parts[2]}x".encode()
