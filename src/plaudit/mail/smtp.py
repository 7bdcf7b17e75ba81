"""Sending over SMTP from PLAUDIT_SMTP_URL, and what a failure means.

`smtp://[user:pass@]host[:port]` (default port 25; STARTTLS when the server
offers it) or `smtps://...` (TLS from the start, default port 465); a login
when the URL has a user. One connection is kept for a run of messages.

A failure is *temporary* (retry later) when the server cannot be reached or
drops the connection, or replies 4xx; *permanent* when it replies 5xx to the
message (MAIL, RCPT or DATA). Trouble while connecting, greeting, starting
TLS or logging in is temporary even with a 5xx: it says nothing about the
message, and fixing the configuration must not have lost the mail.
"""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import Message
from urllib.parse import unquote, urlsplit

TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool  # smtps: TLS from the start
    user: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> "SmtpConfig":
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("PLAUDIT_SMTP_URL must look like smtp://[user:pass@]host:port or smtps://...")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class DeliveryError(Exception):
    """A message was not delivered; `permanent` says whether to give up on it."""

    def __init__(self, reply: str, *, permanent: bool, connection: bool = False) -> None:
        super().__init__(reply)
        self.reply = reply
        self.permanent = permanent
        self.connection = connection  # the connection is gone: the next message needs a new one


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}".strip()


class Mailer:
    """One SMTP connection, opened on the first message and reopened after a drop."""

    def __init__(self, config: SmtpConfig, *, timeout: float = TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        try:
            if c.tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
            if c.user:
                smtp.login(c.user, c.password or "")
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(_reply(error.smtp_code, error.smtp_error), permanent=False, connection=True) from error
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"cannot reach {c.host}:{c.port}: {error}", permanent=False, connection=True) from error
        return smtp

    def send(self, message: Message, sender: str, recipient: str) -> None:
        """Send one message; `DeliveryError` when it was not accepted."""
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise DeliveryError(_reply(code, text), permanent=code >= 500) from error
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(_reply(error.smtp_code, error.smtp_error), permanent=error.smtp_code >= 500) from error
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise DeliveryError(f"connection lost: {error}", permanent=False, connection=True) from error

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None
