"""Pack integration fixtures: the webhook receiver and SMTP server the notifier sends to."""

from tests.support.receivers import smtp, webhook  # noqa: F401  (fixtures)
