"""Where alerts are told: e-mail over SMTP (STARTTLS), the group robots of 企业微信, 钉钉 (signed) and 飞书 (signed),
and a generic JSON webhook signed with HMAC-SHA256. Each send raises DeliveryFailed with the reason, so that the
delivery is retried and the failure counted."""

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any, Literal
from urllib.parse import quote_plus

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from campuspulse.store.alert_schema import Alert

ChannelKind = Literal["smtp", "wecom", "dingtalk", "feishu", "webhook"]
SIGNATURE_HEADER = "X-Campuspulse-Signature"
EVENT_WORDS = {"opened": "告警", "reminder": "仍未处理", "resolved": "已恢复", "withdrawn": "规则已停用"}
SEVERITY_WORDS = {"info": "提示", "warning": "警告", "critical": "严重"}


class DeliveryFailed(Exception):
    """A channel did not take a notification; the message says why."""


class ChannelSettings(BaseModel):
    """A channel alerts are told on, and which alerts: those of `scope` (all, region:<code>, school:<code>) at
    `min_severity` or above."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: ChannelKind
    scope: str = Field("all", pattern=r"^(all|region:[A-Za-z0-9_-]{1,64}|school:[A-Za-z0-9_-]{1,64})$")
    min_severity: Literal["info", "warning", "critical"] = "info"
    url: str | None = Field(None, description="the robot's or webhook's address")
    secret: SecretStr | None = Field(None, description="钉钉/飞书 signing secret, the webhook's HMAC key")
    host: str | None = Field(None, description="SMTP server")
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    ca_file: str | None = Field(None, description="the CA that signed the SMTP server's certificate (default: system)")
    username: str | None = None
    password: SecretStr | None = None
    sender: str | None = Field(None, description="From: of the e-mail")
    to: list[str] = Field(default_factory=list, description="e-mail recipients")
    timeout_s: float = Field(10, gt=0, le=120)

    @model_validator(mode="after")
    def _complete(self) -> "ChannelSettings":
        if self.kind == "smtp" and not (self.host and self.sender and self.to):
            raise ValueError("an smtp channel needs host, sender and to")
        if self.kind != "smtp" and not self.url:
            raise ValueError(f"a {self.kind} channel needs url")
        if self.kind in ("dingtalk", "feishu", "webhook") and self.secret is None:
            raise ValueError(f"a {self.kind} channel needs its signing secret")
        return self


def text_of(alert: Alert, event: str) -> tuple[str, str]:
    """The notification's title and body, in Chinese with the codes beside."""
    title = f"[{SEVERITY_WORDS.get(alert.severity, alert.severity)}·{EVENT_WORDS.get(event, event)}] {alert.summary}"
    lines = [
        title,
        f"规则 rule: {alert.rule}（{alert.kind}）",
        f"对象 subject: {alert.subject}",
        f"学校 school: {alert.school or '—'}",
        f"开始 opened: {alert.opened_at.isoformat()}",
    ]
    if event in ("resolved", "withdrawn") and alert.resolved_at:
        lines.append(f"恢复 resolved: {alert.resolved_at.isoformat()}")
    hides = alert.details.get("hides")
    if hides:
        lines.append(f"其下设备 devices behind it ({len(hides)}): {', '.join(hides[:20])}")
    return title, "\n".join(lines)


def payload_of(alert: Alert, event: str) -> dict[str, Any]:
    """The generic webhook's JSON: the event and the alert."""
    return {
        "event": event,
        "alert": {
            "id": alert.id,
            "rule": alert.rule,
            "rule_version": alert.rule_version,
            "kind": alert.kind,
            "severity": alert.severity,
            "subject": alert.subject,
            "school": alert.school,
            "district": alert.district,
            "state": alert.state,
            "summary": alert.summary,
            "details": alert.details,
            "opened_at": alert.opened_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "acknowledged_by": alert.acknowledged_by,
        },
    }


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under the channel's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """钉钉's `sign`: base64 of HMAC-SHA256 over `<timestamp>\\n<secret>` keyed by the secret (URL-encoded)."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(mac))


def feishu_sign(secret: str, timestamp_s: str) -> str:
    """飞书's `sign`: base64 of HMAC-SHA256 of an empty message keyed by `<timestamp>\\n<secret>`."""
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def _post(ch: ChannelSettings, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    try:
        r = httpx.post(url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=ch.timeout_s)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{ch.name}: {type(exc).__name__}: {exc}") from None
    if r.status_code >= 300:
        raise DeliveryFailed(f"{ch.name}: HTTP {r.status_code} {r.text[:200]}")
    return r


def _robot_ok(ch: ChannelSettings, r: httpx.Response, key: str) -> None:
    try:
        answer = r.json()
    except ValueError:
        raise DeliveryFailed(f"{ch.name}: the robot answered no JSON: {r.text[:200]}") from None
    code = answer.get(key, answer.get("StatusCode", 0)) if isinstance(answer, dict) else None
    if code != 0:
        raise DeliveryFailed(
            f"{ch.name}: the robot refused the message: {json.dumps(answer, ensure_ascii=False)[:200]}"
        )


def send(ch: ChannelSettings, alert: Alert, event: str) -> None:
    """Tell one channel of an alert's event; DeliveryFailed if it did not take it."""
    title, text = text_of(alert, event)
    secret = ch.secret.get_secret_value() if ch.secret else ""
    url = ch.url or ""
    match ch.kind:
        case "webhook":
            body = json.dumps(payload_of(alert, event), ensure_ascii=False).encode()
            stamp = str(int(time.time()))
            headers = {
                SIGNATURE_HEADER: webhook_signature(secret, stamp, body),
                "X-Campuspulse-Timestamp": stamp,
                "X-Campuspulse-Event": event,
            }
            _post(ch, url, body, headers)
        case "wecom":
            body = json.dumps({"msgtype": "markdown", "markdown": {"content": text}}, ensure_ascii=False).encode()
            _robot_ok(ch, _post(ch, url, body, {}), "errcode")
        case "dingtalk":
            stamp = str(int(time.time() * 1000))
            signed = f"{url}{'&' if '?' in url else '?'}timestamp={stamp}&sign={dingtalk_sign(secret, stamp)}"
            message = {"msgtype": "markdown", "markdown": {"title": title, "text": text.replace("\n", "\n\n")}}
            _robot_ok(ch, _post(ch, signed, json.dumps(message, ensure_ascii=False).encode(), {}), "errcode")
        case "feishu":
            stamp = str(int(time.time()))
            message = {
                "timestamp": stamp,
                "sign": feishu_sign(secret, stamp),
                "msg_type": "text",
                "content": {"text": text},
            }
            _robot_ok(ch, _post(ch, url, json.dumps(message, ensure_ascii=False).encode(), {}), "code")
        case "smtp":
            _mail(ch, title, text)


def _mail(ch: ChannelSettings, title: str, text: str) -> None:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = title, ch.sender, ", ".join(ch.to)
    message.set_content(text)
    try:
        with smtplib.SMTP(ch.host or "", ch.port, timeout=ch.timeout_s) as smtp:
            if ch.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=ch.ca_file))
            if ch.username:
                smtp.login(ch.username, ch.password.get_secret_value() if ch.password else "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"{ch.name}: {type(exc).__name__}: {exc}") from None
