"""``python -m lmbatch.testing.emulator --port 8089``: serve the emulator in the foreground."""

from __future__ import annotations

import argparse

from lmbatch.testing.emulator._server import serve
from lmbatch.testing.emulator._settings import EmulatorSettings


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m lmbatch.testing.emulator",
        description="Local batch-API emulator serving every installed vendor.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--mode", choices=["polls", "time", "manual"], default="polls")
    parser.add_argument("--polls-per-step", type=int, default=1)
    parser.add_argument("--seconds-per-step", type=float, default=1.0)
    parser.add_argument("--no-auth", action="store_true", help="accept calls without a key")
    args = parser.parse_args(argv)
    settings = EmulatorSettings(
        mode=args.mode,
        polls_per_step=args.polls_per_step,
        seconds_per_step=args.seconds_per_step,
        require_auth=not args.no_auth,
    )
    serve(host=args.host, port=args.port, settings=settings)


if __name__ == "__main__":
    main()
