"""What an identity name may hold, as a check and as a JSON Schema pattern that says the same."""

from __future__ import annotations

import unicodedata


def refused_in_names(char: str) -> bool:
    """Control, format and surrogate characters (Unicode Cc, Cf, Cs): invisible or direction-changing
    characters that make two different names look the same."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs")


def _bmp_class(test) -> str:
    """A regex character-class body of the Basic Multilingual Plane characters `test` accepts, in
    escapes every regex dialect of JSON Schema reads the same (ECMA, Python, Rust)."""
    ranges: list[list[int]] = []
    for cp in range(0x10000):
        if not 0xD800 <= cp <= 0xDFFF and test(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    esc = lambda cp: f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"
    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


_BAD = _bmp_class(refused_in_names)
#: At least one visible character, no control or format character. (The few such characters outside
#: the BMP, and lone surrogates, are refused by the server too, but no portable pattern names them.)
NAME_PATTERN = f"^[^{_BAD}]*[^{_BAD}\\s][^{_BAD}]*$"
