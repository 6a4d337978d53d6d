#!/usr/bin/env python3
"""Re-pins the shuttle schedules in model/src/schedules.rs.

Each pinned entry names the test that found its schedule, as
`found_by: "FILE::FUNCTION"`. This reruns each of those with --nocapture, takes the first
"failing schedule" shuttle prints, and rewrites the entry's `schedule: ...,`.
Run it from anywhere after a change to the core's or the harness's scheduling points
breaks a replay; then run the replay tests and commit.
"""
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPLAYS = ROOT / "model/src/schedules.rs"
TEST = re.compile(
    r'found_by: "(?P<file>\w+)::(?P<source>\w+)",\s*'
    r"schedule: (?P<literal>concat!\(.*?\)|\"[0-9a-f]+\"),",
    re.S,
)


def fresh_schedule(file: str, source: str) -> str:
    # The shuttle tests are the shuttle build's (src/sync.rs), in its own target dir.
    flags = (os.environ.get("RUSTFLAGS", "") + " --cfg sessionlock_shuttle").strip()
    env = dict(os.environ, RUSTFLAGS=flags, CARGO_TARGET_DIR=str(ROOT / "target/shuttle"))
    run = subprocess.run(
        ["cargo", "test", "--release", "-p", "sessionlock-model", "--test", file, source,
         "--", "--nocapture", "--exact"],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )
    found = re.search(r'failing schedule:\n"\n(?P<body>[0-9a-f\n]+)"', run.stdout + run.stderr)
    if not found:
        sys.exit(f"{file}::{source} printed no failing schedule: did it stop catching its mutant?")
    return found.group("body").replace("\n", "")


def literal(schedule: str) -> str:
    parts = [schedule[i:i + 76] for i in range(0, len(schedule), 76)]
    if len(parts) == 1:
        return f'"{parts[0]}"'
    lines = "".join(f'            "{p}",\n' for p in parts)
    return f"concat!(\n{lines}        )"


def main() -> None:
    text = REPLAYS.read_text()
    for m in list(TEST.finditer(text)):
        schedule = fresh_schedule(m["file"], m["source"])
        text = text.replace(m.group(0), m.group(0).replace(m["literal"], literal(schedule)))
        print(f"{m['source']}: {len(schedule)} characters from {m['file']}::{m['source']}")
    REPLAYS.write_text(text)


if __name__ == "__main__":
    main()
