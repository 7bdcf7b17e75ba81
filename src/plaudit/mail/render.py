"""A notification as an email: plain text and HTML from Jinja2 templates, with
a link into the web app and a Message-ID derived from the notification's id
(so a resend after a crash is recognisably the same message)."""

import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate

from jinja2 import Environment, PackageLoader, select_autoescape

_ENV = Environment(
    loader=PackageLoader("plaudit.mail", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    keep_trailing_newline=True,
)
_TEXT = _ENV.get_template("notification.txt")
_HTML = _ENV.get_template("notification.html")


@dataclass(frozen=True)
class Mail:
    """What one notification's email needs."""

    notification_id: uuid.UUID
    to_email: str
    to_name: str
    title: str
    body: str
    link: str  # a path into the web app


def message_id(notification_id: uuid.UUID, mail_from: str) -> str:
    domain = mail_from.rpartition("@")[2] or "plaudit.localhost"
    return f"<{notification_id}@{domain}>"


def render(mail: Mail, *, base_url: str, mail_from: str) -> EmailMessage:
    base = base_url.rstrip("/")
    context = {
        "name": mail.to_name,
        "title": mail.title,
        "body": mail.body,
        "link": base + mail.link,
        "preferences": base + "/app/notifications",
    }
    message = EmailMessage(policy=SMTP)
    message["From"] = mail_from
    message["To"] = formataddr((mail.to_name, mail.to_email))
    message["Subject"] = mail.title
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(mail.notification_id, mail_from)
    message.set_content(_TEXT.render(context))
    message.add_alternative(_HTML.render(context), subtype="html")
    return message
