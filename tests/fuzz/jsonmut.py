"""JSON mutations of index.json, manifests, configs, docker manifest.json and the dir: manifest:
values replaced by wrong types, huge or negative numbers, deep nesting, hostile unicode, nulls,
keys dropped, duplicated, renamed or added, lists emptied or repeated, digests pointed at other
blobs, and text-level damage (truncation, BOM, NaN, invalid UTF-8)."""

from __future__ import annotations

import json
from typing import Any

from .draw import Draw
from .tarfmt import sha256_hex

__all__ = ["mutate_json", "dumps", "Raw", "Dup"]


class Raw:
    """JSON text put into the output as it is (numbers JSON cannot round-trip, deep nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}{'…' if len(self.text) > 40 else ''})"


class Dup:
    """An object written with its pairs as given, duplicates included."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def dumps(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Dup):
        return "{" + ",".join(json.dumps(k) + ":" + dumps(v) for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2 ** 31, 2 ** 32, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64, -(2 ** 63) - 1, 10 ** 30,
    1.5, -0.0, 1e308, 0.1, "", "0", "-1", "1e3", "a" * 5000, "é\u202e\u2066\u0000\x1b[31m[bold]x[/bold]\x07",
    "../../../etc/passwd", "/etc/shadow", "sha256:" + "0" * 64, "sha256:" + "A" * 64, "sha512:" + "0" * 128,
    "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:../../x", "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "application/x-unknown", "linux", "windows",
    "amd64", "arm64", [], {}, [None], [""], {"": None}, {"a": {"b": {"c": []}}}, ["sha256:" + "1" * 64],
    Raw("1" + "0" * 400), Raw("-" + "9" * 400), Raw("1e999"), Raw("-1e999"), Raw("NaN"), Raw("Infinity"),
    Raw("-Infinity"), Raw('"\\ud800"'), Raw('"\\udfff\\ud800"'), Raw('"\\u0000"'), Raw("1.0e-999"), Raw("0.0000001"),
    Raw("[" * 2000 + "]" * 2000), Raw("[" * 100_000 + "]" * 100_000), Raw('{"a":' * 3000 + "1" + "}" * 3000),
)

KEYS: tuple[str, ...] = ("", "\u0000", "mediaType", "digest", "size", "schemaVersion", "manifests", "layers",
                         "config", "subject", "annotations", "platform", "urls", "data", "artifactType",
                         "Digest", "MediaType", "x" * 300, "__proto__", "\ud800")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:50]):
            out += _paths(v, prefix + (i,))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _show(path: tuple[Any, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _retype(value: Any) -> Any:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return {}


def _text_damage(draw: Draw, text: bytes) -> tuple[bytes, str]:
    how = draw.choice(("truncate", "bom", "trailing", "invalid-utf8", "empty", "not-json", "whitespace",
                       "nul", "nan-member", "latin1"))
    if how == "truncate":
        cut = draw.integer(0, max(len(text) - 1, 0))
        return text[:cut], f"truncated at {cut}"
    if how == "bom":
        return b"\xef\xbb\xbf" + text, "UTF-8 BOM"
    if how == "trailing":
        return text + draw.choice((b"x", b"{}", b"\0", b" \n", b",")), "trailing data"
    if how == "invalid-utf8":
        at = text.find(b'"', 1)
        return (text[:at + 1] + b"\xff\xfe" + text[at + 1:]) if at > 0 else b"\xff" + text, "invalid UTF-8"
    if how == "empty":
        return b"", "empty"
    if how == "not-json":
        return draw.choice((b"null", b"[]", b"1", b'"x"', b"true", b"<xml/>", b"{", b"}")), "another JSON value"
    if how == "whitespace":
        return b" \t\r\n" * draw.integer(1, 2000) + text, "leading whitespace"
    if how == "nul":
        return text.replace(b":", b":\0", 1), "a NUL byte"
    if how == "nan-member":
        return text.replace(b"{", b'{"nan":NaN,', 1), "a NaN member"
    return text.replace(b'"', b'"\xe9', 1), "a Latin-1 byte"


def mutate_json(draw: Draw, doc: Any, raw: bytes, blobs: list[tuple[str, int]]) -> tuple[bytes, str]:
    """One mutation of one document. `blobs` are (digest, size) of other blobs of the image, for
    descriptors that point at the wrong but existing blob."""
    op = draw.choice(("value", "value", "value", "drop", "dup", "add", "retype", "list", "text", "key-case",
                      "digest", "size", "deep-root"))
    if op == "text":
        data, note = _text_damage(draw, raw)
        return data, f"text: {note}"
    if op == "deep-root":
        depth = draw.choice((64, 1000, 100_000))
        return (("[" * depth + "]" * depth).encode(), f"text: nesting {depth} deep")
    doc = json.loads(json.dumps(doc))  # a private copy
    paths = _paths(doc)
    path = draw.choice(paths)
    target = _get(doc, path)
    where = _show(path)
    if op == "value":
        value = draw.choice(VALUES)
        return dumps(_set(doc, path, value)).encode(), f"{where} = {value!r:.60}"
    if op == "retype":
        return dumps(_set(doc, path, _retype(target))).encode(), f"{where}: retyped"
    if op in ("drop", "key-case") and path:
        parent = _get(doc, path[:-1])
        if isinstance(parent, dict):
            value = parent.pop(path[-1])
            if op == "key-case":
                parent[str(path[-1]).swapcase()] = value
                return dumps(doc).encode(), f"{where}: key case swapped"
        else:
            del parent[path[-1]]
        return dumps(doc).encode(), f"{where}: dropped"
    dicts = [p for p in paths if isinstance(_get(doc, p), dict)]
    lists = [p for p in paths if isinstance(_get(doc, p), list)]
    if op == "dup" and dicts:
        p = draw.choice(dicts)
        obj = _get(doc, p)
        if obj:
            key = draw.choice(list(obj))
            pairs = list(obj.items())
            extra = (key, draw.choice(VALUES))
            pairs.insert(draw.integer(0, len(pairs)), extra)
            return dumps(_set(doc, p, Dup(pairs))).encode(), f"{_show(p)}: duplicate key {key!r}"
    if op == "add" and dicts:
        p = draw.choice(dicts)
        key = draw.choice(KEYS)
        _get(doc, p)[key] = draw.choice(VALUES)
        return dumps(doc).encode(), f"{_show(p)}: added key {key!r:.40}"
    if op == "list" and lists:
        p = draw.choice(lists)
        items = _get(doc, p)
        how = draw.choice(("empty", "repeat", "reverse", "append-null", "many"))
        if how == "empty":
            items.clear()
        elif how == "repeat" and items:
            items.append(json.loads(json.dumps(items[draw.integer(0, len(items) - 1)])))
        elif how == "reverse":
            items.reverse()
        elif how == "many" and items:
            items.extend([items[0]] * draw.choice((100, 1001, 5000)))
        else:
            items.append(None)
        return dumps(doc).encode(), f"{_show(p)}: list {how}"
    descriptors = [p for p in dicts if isinstance(_get(doc, p).get("digest"), str)]
    if op == "digest" and descriptors:
        p = draw.choice(descriptors)
        desc = _get(doc, p)
        how = draw.choice(("other-blob", "other-blob-size", "algorithm", "upper", "short", "no-alg", "missing"))
        if how.startswith("other-blob") and blobs:
            digest, size = draw.choice(blobs)
            desc["digest"] = digest
            if how == "other-blob-size":
                desc["size"] = size
        elif how == "algorithm":
            desc["digest"] = draw.choice(("sha512:", "sha384:", "blake3:", "sha256+b64u:")) + desc["digest"].split(":")[-1]
        elif how == "upper":
            desc["digest"] = desc["digest"].upper()
        elif how == "short":
            desc["digest"] = desc["digest"][:-1]
        elif how == "no-alg":
            desc["digest"] = desc["digest"].split(":")[-1]
        else:
            desc["digest"] = "sha256:" + sha256_hex(b"missing blob")
        return dumps(doc).encode(), f"{_show(p)}.digest: {how}"
    sized = [p for p in dicts if "size" in _get(doc, p)]
    if op == "size" and sized:
        p = draw.choice(sized)
        desc = _get(doc, p)
        old = desc["size"] if isinstance(desc["size"], int) else 0
        desc["size"] = draw.choice((old + 1, old - 1, 0, -1, 2 ** 40, 10 ** 12, 2 ** 63 - 1, 2 ** 64, -(2 ** 63)))
        return dumps(doc).encode(), f"{_show(p)}.size = {desc['size']}"
    # The drawn operation did not fit this document: fall back to a value change.
    value = draw.choice(VALUES)
    return dumps(_set(doc, path, value)).encode(), f"{where} = {value!r:.60}"
