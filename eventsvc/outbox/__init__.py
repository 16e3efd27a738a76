"""The durable outbox: every e-mail and Slack post is a row first, then sent once by a worker."""
