"""A real eventsvc server process for the concurrency tests and the bench.

    python -m tests.integration.registration_server PORT DATABASE_URL [--unlocked DELAY] [--threads N]

Serves ``create_app`` with waitress (the production server of ``eventsvc serve``), rate limits
and the outbox worker off. ``--unlocked`` sets the test-only switch that skips the capacity lock
(honoured only with TESTING) and sleeps DELAY seconds between counting and writing.
"""

from __future__ import annotations

import argparse
import logging


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("database_url")
    parser.add_argument("--unlocked", type=float, default=None)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()

    import waitress

    from eventsvc import create_app

    config = {"SQLALCHEMY_DATABASE_URI": args.database_url, "SECRET_KEY": "registration-server-test",
              "RATELIMIT_ENABLED": False, "OUTBOX_WORKER": False, "TESTING": True, "LOG_LEVEL": "WARNING",
              "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": args.threads, "max_overflow": 4}
              if args.database_url.startswith("postgresql") else {}}
    if args.unlocked is not None:
        config.update(REGISTRATION_UNSAFE_NO_LOCK=True, REGISTRATION_UNSAFE_DELAY=args.unlocked)
    app = create_app(config)
    logging.getLogger("waitress").setLevel(logging.ERROR)
    waitress.serve(app, host="127.0.0.1", port=args.port, threads=args.threads, connection_limit=500,
                   backlog=1024, ident="eventsvc-test", _quiet=True)


if __name__ == "__main__":
    main()
