"""What a recorded bag holds, where ``ros2 bag info`` is not installed (pip wheels, no distro).

``python -m vlash_policy.recording.bag_info BAG_DIR``

Prints the bag's storage, files, start, duration and, per topic, its type, message count and
mean rate, from ``metadata.yaml`` alone (no message is read, so it is instant on any size).
Topics with no messages are flagged: a recording of the ``sim`` profile leaves two of the three
command topics empty, since the executor sends only its ``command_interface``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from vlash_policy.recording.bag_io import BagInfo, read_bag_info


def format_bag_info(info: BagInfo) -> str:
    """The bag's metadata as aligned text, one row per topic."""
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.start_ns * 1e-9))
    lines = [
        f"bag:       {info.path}",
        f"storage:   {info.storage} ({', '.join(info.files) or 'no files'})",
        f"start:     {start} ({info.start_ns * 1e-9:.3f} s since the epoch)",
        f"duration:  {info.duration_ns * 1e-9:.3f} s",
        f"messages:  {info.message_count} on {len(info.topics)} topics",
    ]
    if info.topics:
        name_width = max(len(name) for name in info.topics)
        type_width = max(len(t.msgtype) for t in info.topics.values())
        lines.append(f"{'topic':<{name_width}}  {'type':<{type_width}}  {'count':>7}  {'rate':>9}")
        for name in sorted(info.topics):
            topic = info.topics[name]
            rate = info.rate_hz(name)
            shown = "-" if rate is None or topic.count == 0 else f"{rate:.1f} Hz"
            empty = "  (no messages)" if topic.count == 0 else ""
            lines.append(
                f"{name:<{name_width}}  {topic.msgtype:<{type_width}}  {topic.count:>7}  "
                f"{shown:>9}{empty}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vlash_policy.recording.bag_info", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("bag", type=Path, help="rosbag2 directory (the one with metadata.yaml)")
    args = parser.parse_args(argv)
    try:
        info = read_bag_info(args.bag)
    except (FileNotFoundError, ValueError) as error:
        print(f"bag_info: {error}", file=sys.stderr)
        return 1
    print(format_bag_info(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
