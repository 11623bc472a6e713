# SPDX-License-Identifier: Apache-2.0
# Writes the seeds of fuzz/corpus/greybus_message/ (input format: fuzz/greybus_message.cpp and
# docs/greybus.md, "Fuzzing the message codec"). Not part of the build; run it after the vectors
# or that format change:
#   python3 fuzz/seeds/greybus_message_seeds.py fuzz/corpus/greybus_message
# Source: tests/greybus/vectors_messages.inc (generated from shared/vectors/greybus by
# tests/greybus/gen_vectors.py), so the seeds need nothing outside the repository.
# One seed per well-formed message (lenient and, for one per protocol, strict), one per
# malformed message, and one stream per protocol file (all its messages back to back).
import os, pathlib, re, sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
inc = (ROOT / "tests/greybus/vectors_messages.inc").read_text()

good = re.findall(r'^\s*\{"(\w+)", "([\w.]+)", "([0-9a-f]*)",$', inc, re.M)
bad = re.findall(r'^\s*\{"(\w+)", "([0-9a-f]*)",$', inc, re.M)
assert good and bad, "vectors_messages.inc has an unexpected shape"

LENIENT, STRICT = b"\x00", b"\x01"
seeds = {}
streams = {}
strict_done = set()
for proto, name, hexdata in good:
    msg = bytes.fromhex(hexdata)
    seeds[f"{proto}_{name.replace('.', '_')}"] = LENIENT + msg
    if proto not in strict_done:
        seeds[f"strict_{proto}_{name.replace('.', '_')}"] = STRICT + msg
        strict_done.add(proto)
    streams.setdefault(proto, b"")
    streams[proto] += msg
for proto, stream in streams.items():
    seeds[f"stream_{proto}"] = LENIENT + stream
for name, hexdata in bad:
    seeds[f"malformed_{name}"] = LENIENT + bytes.fromhex(hexdata)
    seeds[f"malformed_{name}_strict"] = STRICT + bytes.fromhex(hexdata)

for name, data in sorted(seeds.items()):
    (out / name).write_bytes(data)
print(f"{out}: {len(seeds)} seeds ({len(good)} messages, {len(streams)} streams, {len(bad)} malformed)")
