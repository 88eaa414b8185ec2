"""Our number texts against ECMAScript's own: node's ``JSON.stringify`` of the same doubles.

RFC 8785 §3.2.2.3 adopts ECMAScript's Number serialisation, so a JavaScript engine is
the reference. Random 64-bit patterns cover the whole double range (subnormals included,
NaN and infinities excluded); the boundaries of every case of Number::toString are added.
"""

from __future__ import annotations

import math
import random
import shutil
import struct
import subprocess
import sys

import pytest

from ledger.canonical import number_text
from ledger.wire import jcs

NODE = shutil.which("node")
# Reads little-endian doubles from the file named first and writes JSON.stringify of each, one a line.
STRINGIFY = (
    "const b = require('fs').readFileSync(process.argv[1]);"
    "const a = new Float64Array(b.buffer, b.byteOffset, b.length / 8);"
    "const out = new Array(a.length);"
    "for (let i = 0; i < a.length; i++) out[i] = JSON.stringify(a[i]);"
    "process.stdout.write(out.join('\\n'));"
)

TINY = 5e-324
BOUNDARIES = [
    0.0, -0.0, TINY, -TINY, 2.2250738585072014e-308, math.nextafter(2.2250738585072014e-308, 0),
    sys.float_info.max, -sys.float_info.max, 1.0, 0.1, 14.5,
    2.0**53 - 1, 2.0**53, 2.0**53 + 2, -(2.0**53 + 2), 1e15, 1e16, math.nextafter(1e16, 0), math.nextafter(1e16, 2e16),
    1e21, math.nextafter(1e21, 0), math.nextafter(1e21, 2e21), -1e21,
    1e-6, math.nextafter(1e-6, 0), 1e-7, math.nextafter(1e-7, 1), 1e-5, 1e-4, 123456789012345680000.0,
]


def random_doubles(count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    values: list[float] = []
    while len(values) < count:
        bits = rng.getrandbits(64)
        if (bits >> 52) & 0x7FF != 0x7FF:  # NaN and ±Infinity have no JSON text
            values.append(struct.unpack("<d", struct.pack("<Q", bits))[0])
    return values


def stringify(values: list[float], folder) -> list[str]:
    source = folder / "doubles.bin"
    source.write_bytes(struct.pack(f"<{len(values)}d", *values))
    done = subprocess.run([NODE, "-e", STRINGIFY, str(source)], capture_output=True, check=True, timeout=120)
    return done.stdout.decode("ascii").split("\n")


def verifier_texts(values: list[float]) -> list[str]:
    return jcs(values).decode("ascii")[1:-1].split(",")


def compare(values: list[float], folder) -> None:
    expected = stringify(values, folder)
    assert len(expected) == len(values)
    ours = [number_text(value) for value in values]
    theirs = verifier_texts(values)
    wrong = [(value, js, mine, other) for value, js, mine, other in zip(values, expected, ours, theirs)
             if not js == mine == other]
    assert not wrong, f"{len(wrong)} doubles differ from JSON.stringify, e.g. (value, node, writer, verifier): {wrong[:5]}"


needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: no ECMAScript engine to compare with")


@needs_node
def test_boundary_doubles_read_as_json_stringify_writes_them(tmp_path):
    compare(BOUNDARIES, tmp_path)


@needs_node
def test_a_hundred_thousand_random_doubles_read_as_json_stringify_writes_them(tmp_path):
    compare(random_doubles(100_000, seed=8785), tmp_path)


@needs_node
@pytest.mark.slow
def test_a_million_random_doubles_read_as_json_stringify_writes_them(tmp_path):
    compare(random_doubles(1_000_000, seed=262), tmp_path)
