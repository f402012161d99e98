"""JSON documents for the JCS differential test, each with its RFC 8785
canonical form by the Python `rfc8785` package. Hand-written edge cases come
first (the examples of RFC 8785 among them), then COUNT documents from a
fixed seed: nested objects and arrays whose keys and strings mix ASCII,
quotes, backslashes, control characters, non-ASCII and astral characters
(a key with a surrogate pair sorts before U+E000 to U+FFFF by UTF-16 code
units, after them by code points), and numbers of every magnitude: integers
within the 53 bits a double holds exactly, floats around the 1e-7 and 1e21
bounds where the output changes to exponent form, subnormals, the extremes,
random bit patterns, values halfway between two 17-digit decimals (the
even one is the shortest form), and -0.0. No NaN or Infinity: they are not
JSON.

Writes one JSON line per document: {"case", "doc", "canonical"}: `doc` is the
document's JSON text (non-ASCII as is, floats as Python's repr, which reads
back as the same double), `canonical` is rfc8785's output for that text.
Usage: jcs_cases.py [COUNT [SEED]]
"""

import json
import math
import random
import struct
import sys

import rfc8785

COUNT = 3000
SEED = 8785
MAX_DEPTH = 4
MAX_WIDTH = 6
MAX_SAFE = 2**53 - 1  # rfc8785 refuses integers beyond this

# Code points chosen for escaping and for the UTF-16 order: quotes and
# backslashes, every kind of control character, DEL, Latin-1, the line and
# paragraph separators, the private use area and the top of the BMP (above
# the surrogates, so after an astral character in UTF-16), and astral ones.
CHARS = (
    ['"', "\\", "/", "'", " ", "a", "b", "z", "A", "0", "1", "~", "<", ">", "&"]
    + [chr(c) for c in range(0x20)]
    + ["\x7f", "\x80", "\x9f", "\xa0", "é", "ö", "ß", "\u0301", "\u20ac"]
    + ["\u2028", "\u2029", "\ud7ff", "\ue000", "\ufb33", "\ufeff", "\ufffd", "\uffff"]
    + ["中", "\U00010000", "\U0001d11e", "\U0001f600", "\U0010ffff"]
)
# Keys share prefixes and straddle the surrogate range so that the order by
# UTF-16 code units and the order by code points differ often.
KEYS = [
    "", "a", "b", "aa", "ab", "a\x00", "A", "1", "10", "2", "\r", "\x1f", '"', "\\",
    "é", "ö", "\x80", "\u20ac", "\ufb33", "\ue000", "\uffff", "\ufffd", "\ud7ff",
    "\U00010000", "\U0001f600", "\U0010ffff", "a\U0001f600", "a\ue000", "\U0001f600a",
    "\ue000\U0001f600", "\U0001f600\ue000", "中", "\u2028",
]


def bits(hexbits):
    """The double with these IEEE 754 bits (big-endian hex)."""
    return struct.unpack(">d", bytes.fromhex(hexbits))[0]


def edges():
    """Hand-written (name, JSON text) cases."""
    cases = []

    def add(name, *docs):
        for i, doc in enumerate(docs):
            cases.append((f"{name}/{i}", doc))

    # RFC 8785 3.2.2 and 3.2.3: the sample input and the sorting example.
    add(
        "rfc 3.2.2",
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}',
    )
    add(
        "rfc 3.2.3",
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return",'
        ' "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",'
        ' "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis"}',
    )
    # RFC 8785 appendix B: the number table (NaN and Infinity left out).
    table = [
        "0000000000000000", "8000000000000000", "0000000000000001", "8000000000000001",
        "7fefffffffffffff", "ffefffffffffffff", "4340000000000000", "c340000000000000",
        "4430000000000000", "44b52d02c7e14af5", "44b52d02c7e14af6", "44b52d02c7e14af7",
        "444b1ae4d6e2ef4e", "444b1ae4d6e2ef4f", "444b1ae4d6e2ef50", "3eb0c6f7a0b5ed8c",
        "3eb0c6f7a0b5ed8d", "41b3de4355555553", "41b3de4355555554", "41b3de4355555555",
        "41b3de4355555556", "41b3de4355555557", "becbf647612f3696", "43143ff3c1cb0959",
    ]
    add("rfc appendix b", *[json.dumps([bits(b)]) for b in table])
    # Scalars at the top level, and empty containers.
    add("scalars", "null", "true", "false", "0", "-0", "-0.0", '""', '"x"', "[]", "{}",
        "[[]]", '{"a": {}}', '[{}, [], ""]')
    # Numbers spelled many ways: JSON spellings that read as the same double.
    add("spellings", "[1.0, 1e0, 10e-1, 0.1e1, 100E-2, 1E+0]",
        "[0.1, 1e-1, 0.10000000000000000555]",
        "[1e21, 1E21, 1000000000000000000000.0, 1e+21]", "[-0, -0.0, -0e5, 0e-5]",
        "[123456789012345678.0, 1.5e300, 2.5E-300, 4.9e-324, 2.4703282292062328e-324]")
    # Around the bounds where the output switches to exponent form.
    around = [1e21, 1e-7, 1e-6, 1e20, 1e-5, 1e16, 1e17, 2.0**53, 2.0**64, 1e15, 0.0001]
    near = []
    for x in around:
        near += [math.nextafter(x, 0), x, math.nextafter(x, math.inf)]
    add("bounds", json.dumps(near), json.dumps([-x for x in near]),
        json.dumps([1.5e-7, 1.5e-6, 1.5e20, 1.5e21, 1.23456789e-7, 999999999999999900000.0]))
    add("extremes", json.dumps([5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308,
                                2.2250738585072014e-308, 2.225073858507201e-308, 1e-323, 1e308]))
    # Halfway between two 17-digit decimals: the even one (RFC 8785 appendix
    # B's last row is one).
    add("halfway", json.dumps([2**-25, -(2**-25), 3 * 2**-24, 1424953923781206.25,
                               100000000000000.125]))
    add("fractions", json.dumps([1 / 3, 2 / 3, 0.1, 0.2, 0.1 + 0.2, 0.3, 1 / 7, 100 / 3,
                                 1e23, 9.007199254740993e15, 123.456, -123.456]))
    add("integers", json.dumps([MAX_SAFE, -MAX_SAFE, 2**31, -(2**31), 2**32, 10**15, 10**15 + 1,
                                999999999999999, 4503599627370497]))
    # Strings: every escape, the control characters, what stays as is.
    add("strings", json.dumps(["".join(chr(c) for c in range(0x20)), '"\\/', "\x7f\x80\x9f",
                               "\u2028\u2029", "\ufeff\uffff", "\U0010ffff\U00010000",
                               "e\u0301", "\x00"], ensure_ascii=False),
        json.dumps({"\x00": 1, "\x01": 2, "\x1f": 3, " ": 4, "\x7f": 5}, ensure_ascii=False))
    # Keys whose UTF-16 order is not their code point order, and prefixes.
    add("sort", json.dumps({"\ue000": 1, "\U0001f600": 2, "\uffff": 3, "\U00010000": 4,
                            "\ud7ff": 5}, ensure_ascii=False),
        json.dumps({"a\ue000": 1, "a\U0001f600": 2, "a": 3, "": 4, "a\x00": 5, "ab": 6},
                   ensure_ascii=False),
        json.dumps({"b": 1, "a": [1.0, "\u20ac", 1e21, 1e-7]}, ensure_ascii=False),
        json.dumps({"z": {"y": {"\U0001f600": [{"b": 0, "a": 0}], "\ufb33": None}}, "Z": 1},
                   ensure_ascii=False))
    # Deep nesting.
    deep = 0.5
    for i in range(40):
        deep = [deep] if i % 2 else {"k\U0001f600": deep, "k\ue000": i}
    add("deep", json.dumps(deep, ensure_ascii=False))
    return cases


def number(rng):
    kind = rng.randrange(10)
    if kind == 0:  # small integers
        return rng.randint(-1000, 1000)
    if kind == 1:  # integers of any size a double holds exactly
        return rng.choice([1, -1]) * rng.randint(0, 2 ** rng.randint(1, 53) - 1)
    if kind == 2:  # floats with an integral value, up to past 1e21
        return float(rng.randint(-(10**6), 10**6)) * 10.0 ** rng.randint(0, 25)
    if kind == 3:  # a few significant digits at any magnitude
        digits = rng.randint(1, 17)
        mantissa = rng.randint(1, 10**digits - 1)
        value = float(f"{mantissa}e{rng.randint(-340, 308 - digits)}")
        return -value if rng.random() < 0.3 else value
    if kind == 4:  # near the exponent-form bounds
        x = rng.choice([1e21, 1e-7, 1e-6, 1e20, 1e-5, 1e16, 1e15, 0.001])
        return x * rng.choice([1, 1.5, 0.5, 0.999999, 9.87654321, 0.1, 10])
    if kind == 5:  # any double, by its bits
        while True:
            value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(value):
                return value
    if kind == 6:  # uniform in [0, 1), so 17 digits
        return rng.random() * rng.choice([1, -1, 1000, 1e-3])
    if kind == 7:  # ratios, repeating decimals
        return rng.randint(-100, 100) / rng.randint(1, 99)
    if kind == 8:  # halfway: n / 2^k with exactly 18 significant digits
        # When 17 digits are needed, two 17-digit decimals are equally near:
        # ECMAScript takes the one with the even last digit.
        k = rng.randint(2, 25)  # at 1, 18 digits need more than 53 bits
        low, high = -(-(10**17) // 5**k), min(10**18 // 5**k, 2**53)
        value = (rng.randrange(low, high - 1) | 1) / 2**k
        return -value if rng.random() < 0.3 else value
    return rng.choice([0, 0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, 0.1, 1 / 3,
                       1e21, 1e-7, 1e-6, MAX_SAFE, -MAX_SAFE, 2.0**53, 1.0, -1.0])


def string(rng):
    length = rng.choice([0, 1, 1, 2, 3, 5, 8, 13])
    return "".join(rng.choice(CHARS) for _ in range(length))


def key(rng):
    return rng.choice(KEYS) if rng.random() < 0.6 else string(rng)


def value(rng, depth):
    kind = rng.randrange(10 if depth < MAX_DEPTH else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind in (1, 2, 3):
        return number(rng)
    if kind in (4, 5):
        return string(rng)
    if kind in (6, 7):
        return [value(rng, depth + 1) for _ in range(rng.randint(0, MAX_WIDTH))]
    return {key(rng): value(rng, depth + 1) for _ in range(rng.randint(0, MAX_WIDTH))}


def line(case, text):
    # Canonicalise what the Rust side reads: the JSON text.
    canonical = rfc8785.dumps(json.loads(text)).decode("utf-8")
    return json.dumps({"case": case, "doc": text, "canonical": canonical})


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else COUNT
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else SEED
    rng = random.Random(seed)
    out = sys.stdout
    for name, text in edges():
        print(line(f"edge/{name}", text), file=out)
    for n in range(count):
        # Mostly objects: their key order is the hard part.
        doc = {key(rng): value(rng, 1) for _ in range(rng.randint(1, MAX_WIDTH))}
        if n % 10 == 9:
            doc = value(rng, 0)
        text = json.dumps(doc, ensure_ascii=False, allow_nan=False)
        print(line(f"generated/{n}", text), file=out)
    out.flush()


if __name__ == "__main__":
    main()
