"""The image's /etc/passwd and /etc/group (inspectr/untrusted/passwd.py): typed records, bad lines
kept aside so they break only a lookup that needs them, and every cap."""

from __future__ import annotations

import pytest

from inspectr.errors import EntryLimitExceeded, InvalidPasswdEntry, MalformedImage, SizeLimitExceeded
from inspectr.limits import Limits
from inspectr.untrusted.passwd import (MAX_ID, MAX_LINE_BYTES, MAX_LINES, BadLine, GroupEntry, PasswdEntry, find_group,
                                       find_user, member_gids, parse_group, parse_id, parse_passwd)

PASSWD = (b"root:x:0:0:root:/root:/bin/sh\n"
          b"# a comment, then a blank line\n"
          b"\n"
          b"broken:x:abc:100::/:/bin/sh\n"
          b"short:x:7\n"
          b"app:x:1000:1000::/home/app:/bin/sh\n"
          b"nohome:x:1001:1001\n"
          b"badgid:x:1002:-1::/:/bin/sh\n")


def test_valid_lines_become_typed_entries_and_bad_lines_say_which_field() -> None:
    entries = parse_passwd(PASSWD)
    assert entries == (
        PasswdEntry("root", 0, 0, "/root", 1),
        BadLine("/etc/passwd", 4, "broken", None, (), "uid", "'abc' is not a decimal number"),
        BadLine("/etc/passwd", 5, "short", 7, (), "fields", "3 of at least 4 (name:password:uid:gid)"),
        PasswdEntry("app", 1000, 1000, "/home/app", 6),
        PasswdEntry("nohome", 1001, 1001, "", 7),  # glibc accepts the four fields a lookup needs
        BadLine("/etc/passwd", 8, "badgid", 1002, (), "gid", "'-1' is not a decimal number"),
    )


def test_a_bad_line_breaks_only_the_lookup_that_lands_on_it() -> None:
    entries = parse_passwd(PASSWD)
    assert find_user(entries, "app") == PasswdEntry("app", 1000, 1000, "/home/app", 6)
    assert find_user(entries, "1000") == find_user(entries, "app")  # a number is also a uid
    assert find_user(entries, "nobody") is None and find_user(entries, "4242") is None
    with pytest.raises(InvalidPasswdEntry) as err:
        find_user(entries, "broken")
    assert str(err.value) == "/etc/passwd line 4 (entry 'broken'): uid: 'abc' is not a decimal number"
    assert err.value.error_class == "invalid-passwd-entry" and isinstance(err.value, MalformedImage)
    with pytest.raises(InvalidPasswdEntry, match=r"^/etc/passwd line 8 \(entry 'badgid'\): gid: "):
        find_user(entries, "1002")  # its uid field is fine, so a uid lookup lands on it


def test_runc_would_run_a_non_numeric_uid_as_root_so_it_is_never_read_as_zero() -> None:
    # libcontainer/user ignores strconv.Atoi's error: "abc" becomes uid 0. Here uid 0 finds root.
    entries = parse_passwd(b"evil:x:abc:abc::/:/bin/sh\nroot:x:0:0::/root:/bin/sh\n")
    assert find_user(entries, "0") == PasswdEntry("root", 0, 0, "/root", 2)
    with pytest.raises(InvalidPasswdEntry):
        find_user(entries, "evil")


@pytest.mark.parametrize("text, value", [("0", 0), ("0100", 100), (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), None),
                                         ("", None), ("-1", None), ("+1", None), (" 1", None), ("1_000", None),
                                         ("\u0661\u0662", None), ("99999999999", None)])
def test_ids_are_ascii_decimal_below_the_value_setresuid_reads_as_unchanged(text: str, value: int | None) -> None:
    assert parse_id(text) == value


def test_an_id_of_minus_one_as_unsigned_is_a_bad_line() -> None:
    (entry,) = parse_passwd(b"max:x:4294967295:0::/:/bin/sh\n")
    assert isinstance(entry, BadLine) and entry.field == "uid" and "out of range 0..4294967294" in entry.problem


def test_groups_by_name_and_membership() -> None:
    groups = parse_group(b"root:x:0:\nwheel:x:10:root,app\nbad:x:zz:other\nstaff:x:50:app\nempty:x:60\nshort:x\n")
    assert groups[0] == GroupEntry("root", 0, (), 1) and groups[4] == GroupEntry("empty", 60, (), 5)
    assert isinstance(groups[5], BadLine) and groups[5].field == "fields"
    assert find_group(groups, "staff") == GroupEntry("staff", 50, ("app",), 4)
    assert find_group(groups, "none") is None
    assert member_gids(groups, "app") == (10, 50)
    assert member_gids(groups, "root") == (10,)
    with pytest.raises(InvalidPasswdEntry, match=r"^/etc/group line 3 \(entry 'bad'\): gid: 'zz' is not a decimal number$"):
        member_gids(groups, "other")  # a group the user is in cannot be left out silently
    with pytest.raises(InvalidPasswdEntry):
        find_group(groups, "bad")


def test_image_text_in_messages_is_escaped_and_cut() -> None:
    (entry,) = parse_passwd(b"\x1b]0;pwned\x07" + b"n" * 100 + b":x:1:bad\xff\n")
    assert isinstance(entry, BadLine)
    message = str(entry.error())
    assert "\x1b" not in message and "\x07" not in message and "\\x1b]0;pwned\\x07" in message
    assert "..." in message and len(message) < 200


def test_not_utf8_names_keep_their_bytes() -> None:
    (entry,) = parse_passwd(b"caf\xe9:x:5:5::/home/caf\xe9:/bin/sh\n")
    assert isinstance(entry, PasswdEntry) and entry.home.encode("utf-8", "surrogateescape") == b"/home/caf\xe9"


def test_caps_on_file_size_line_count_and_line_length() -> None:
    with pytest.raises(SizeLimitExceeded, match=r"^/etc/passwd: larger than max_json_bytes=10$"):
        parse_passwd(b"root:x:0:0::/root:/bin/sh\n", limits=Limits(max_json_bytes=10))
    with pytest.raises(EntryLimitExceeded, match=f"^/etc/group: more than {MAX_LINES} lines$"):
        parse_group(b"\n" * (MAX_LINES + 1))
    assert parse_group(b"g:x:1:\n" * MAX_LINES)[-1] == GroupEntry("g", 1, (), MAX_LINES)
    long_line = b"big:x:7:" + b",".join([b"member"] * (MAX_LINE_BYTES // 7 + 1)) + b"\n"
    entries = parse_group(long_line + b"small:x:8:app\n")
    assert isinstance(entries[0], BadLine) and entries[0].field == "line" and entries[0].name == "big"
    assert member_gids(entries, "app") == (8,)  # the long line does not list app: no error
    with pytest.raises(InvalidPasswdEntry, match="line 1 .*longer than 65536 bytes"):
        member_gids(entries, "member")
