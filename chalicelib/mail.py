"""The one way mail leaves: Amazon SES in AWS, an SMTP server elsewhere (the
local stack's embedded one, or a relay SMTP_URL names)."""
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

from chalicelib import settings
from chalicelib.threadsafe import once


def send(to: str, subject: str, text: str):
    config = settings.get()
    sender = config.require("mail_from")
    if config.smtp_url:
        _send_smtp(config.smtp_url, sender, to, subject, text)
        return
    _ses(config.aws_region).send_email(
        FromEmailAddress=sender, Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": subject},
                            "Body": {"Text": {"Data": text}}}})


def _send_smtp(url, sender, to, subject, text):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(text)
    address = urlsplit(url)
    with smtplib.SMTP(address.hostname, address.port or 25, timeout=5) as connection:
        connection.send_message(message)


@once
def _ses(region):
    import boto3  # only a password reset mails; kept out of the API's cold start

    return boto3.client("sesv2", region_name=region)
