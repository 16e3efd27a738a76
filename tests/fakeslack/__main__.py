"""Run the fake Slack Web API by itself: ``python -m tests.fakeslack [--port N] [--demo]``.

Prints the base URL and the bot token, then serves until interrupted. ``--demo`` seeds a few
users and regional channels so an app started with ``EVENTSVC_SLACK_API_URL`` has something
to find.
"""

from __future__ import annotations

import argparse
import time

from .server import FakeSlack


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeslack")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--rate-limits", type=float, metavar="SCALE", default=None)
    args = parser.parse_args()
    fake = FakeSlack()
    fake.start(args.port)
    if args.rate_limits:
        fake.enable_rate_limits(scale=args.rate_limits)
    if args.demo:
        for region in ("kyushu-okinawa", "kanto", "kinki"):
            fake.add_channel(f"region-{region}")
        fake.add_user(email="taro.yamada@city.naha.lg.jp", real_name="山田 太郎")
        fake.add_user(email="hanako.sato@city.kurume.lg.jp", real_name="佐藤 花子")
        fake.add_user(email="left@example.lg.jp", real_name="退職 済", deleted=True)
    print(f"base_url  {fake.base_url}", flush=True)
    print(f"bot_token {fake.bot_token}", flush=True)
    print(f"client_id {fake.client_id} client_secret {fake.client_secret}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
