"""The member classifier: raw tar names, link names and whiteout markers become typed records
(shared/specs/unionfs.md R2, R5, R7, R9, R11, R12). Errors are checked by type *and* message."""

from __future__ import annotations

import pytest

from inspectr.errors import InvalidHardlink, InvalidName, InvalidWhiteout, PathEscapeRejected
from inspectr.limits import Limits
from inspectr.untrusted.members import MemberKind, MemberRecord, archive_member_names, classify_member
from inspectr.untrusted.tar import Member

LIMITS = Limits()
WHAT = "layer 1"


def member(name: bytes, typeflag: str = "0", linkname: bytes = b"", *, devmajor: int = 0, devminor: int = 0,
           xattrs: dict[str, bytes] | None = None) -> Member:
    return Member(
        raw_name=name, typeflag=typeflag, mode=0o644, uid=0, gid=0, size=0, stored_size=0, mtime_ns=0,
        raw_linkname=linkname, devmajor=devmajor, devminor=devminor, offset=0, data_offset=512, xattrs=xattrs,
    )


def classify(m: Member) -> MemberRecord:
    return classify_member(m, LIMITS, WHAT)


@pytest.mark.parametrize(
    ("typeflag", "kind"),
    [("0", MemberKind.FILE), ("5", MemberKind.DIR), ("4", MemberKind.BLOCK), ("6", MemberKind.FIFO)],
)
def test_plain_member_keeps_its_type_and_name(typeflag: str, kind: MemberKind) -> None:
    assert classify(member(b"etc/passwd", typeflag)) == MemberRecord(kind, "etc/passwd", "", None, ())


def test_name_is_normalised_and_the_archive_name_kept_for_reports() -> None:
    assert classify(member(b"./usr//bin/../lib/")) == MemberRecord(MemberKind.FILE, "usr/lib", "", "./usr//bin/../lib/", ())


def test_name_climbing_out_of_the_root_is_rejected() -> None:
    with pytest.raises(PathEscapeRejected) as err:
        classify(member(b"a/../../etc/passwd"))
    assert err.value.message == "layer 1: entry name 'a/../../etc/passwd': climbs out of the image root"


def test_whiteout_names_the_sibling_it_deletes() -> None:
    assert classify(member(b"etc/.wh.passwd")) == MemberRecord(MemberKind.WHITEOUT, "etc/passwd", "", None, ())


@pytest.mark.parametrize("typeflag", ["5", "2", "1"])
def test_whiteout_type_is_irrelevant(typeflag: str) -> None:
    # R5: every applier deletes for directory, symlink and hardlink whiteouts; link checks never run.
    assert classify(member(b"./.wh.victim", typeflag)) == MemberRecord(MemberKind.WHITEOUT, "victim", "", "./.wh.victim", ())


def test_opaque_marker_names_its_directory() -> None:
    assert classify(member(b"var/cache/.wh..wh..opq")) == MemberRecord(MemberKind.OPAQUE, "var/cache", "", None, ())


def test_opaque_marker_at_the_top_names_the_root() -> None:
    assert classify(member(b"./.wh..wh..opq")) == MemberRecord(MemberKind.OPAQUE, "", "", "./.wh..wh..opq", ())


def test_aufs_metadata_is_kept_literally_with_a_notice() -> None:
    assert classify(member(b".wh..wh.plnk", "5")) == MemberRecord(
        MemberKind.DIR, ".wh..wh.plnk", "", None,
        (("aufs-metadata", "layer 1: AUFS metadata entry '.wh..wh.plnk' kept literally"),),
    )


def test_member_inside_aufs_metadata_is_flagged_as_wh_prefixed_directory() -> None:
    assert classify(member(b".wh..wh.plnk/1234.5678")).notices == (
        ("wh-prefixed-directory", "layer 1: '.wh..wh.plnk/1234.5678' has a '.wh.'-prefixed directory component"),
    )


def test_wh_prefixed_directory_is_kept_and_flagged() -> None:
    assert classify(member(b"a/.wh.d/file")) == MemberRecord(
        MemberKind.FILE, "a/.wh.d/file", "", None,
        (("wh-prefixed-directory", "layer 1: 'a/.wh.d/file' has a '.wh.'-prefixed directory component"),),
    )


def test_wh_inside_a_name_is_not_a_whiteout() -> None:
    assert classify(member(b"a.wh.b/c.wh.d")) == MemberRecord(MemberKind.FILE, "a.wh.b/c.wh.d", "", None, ())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (b"a/.wh.", "layer 1: whiteout 'a/.wh.' names no sibling (it would delete the parent)"),
        (b"a/.wh..", "layer 1: whiteout 'a/.wh..' names no sibling (it would delete the parent)"),
        (b"a/.wh...", "layer 1: whiteout 'a/.wh...' names no sibling (it would delete the grandparent)"),
        (b".wh.", "layer 1: whiteout '.wh.' names no sibling (it would delete the parent)"),
    ],
)
def test_whiteout_naming_no_sibling_is_invalid(name: bytes, message: str) -> None:
    # R9: Docker deletes the parent or grandparent; containerd rejects, and so do we.
    with pytest.raises(InvalidWhiteout) as err:
        classify(member(name))
    assert err.value.message == message


def test_escaping_symlink_is_kept_verbatim_with_a_notice() -> None:
    assert classify(member(b"a/esc", "2", b"../../tmp/x")) == MemberRecord(
        MemberKind.SYMLINK, "a/esc", "../../tmp/x", None,
        (("symlink-escape", "layer 1: symlink 'a/esc' -> '../../tmp/x' points above the image root"),),
    )


@pytest.mark.parametrize("target", [b"../x", b"/tmp/x", b"./b/../../c", b"x/../../y"])
def test_symlink_staying_in_the_root_has_no_notice(target: bytes) -> None:
    assert classify(member(b"a/link", "2", target)) == MemberRecord(MemberKind.SYMLINK, "a/link", target.decode(), None, ())


def test_empty_symlink_target_is_flagged() -> None:
    assert classify(member(b"l", "2", b"")).notices == (("empty-symlink", "layer 1: symlink 'l' has an empty target"),)


def test_nul_in_symlink_target_is_rejected() -> None:
    with pytest.raises(InvalidName) as err:
        classify(member(b"l", "2", b"/etc\x00/shadow"))
    assert err.value.message == "layer 1: symlink 'l': target contains a NUL byte"


def test_non_utf8_symlink_target_is_decoded_with_surrogates() -> None:
    assert classify(member(b"l", "2", b"caf\xe9")).linkname == "caf\udce9"


def test_hardlink_target_is_normalised() -> None:
    assert classify(member(b"bin/sh", "1", b"/bin/./bash")) == MemberRecord(MemberKind.HARDLINK, "bin/sh", "bin/bash", None, ())


def test_empty_hardlink_target_is_rejected() -> None:
    with pytest.raises(InvalidHardlink) as err:
        classify(member(b"h", "1", b""))
    assert err.value.message == "layer 1: hardlink 'h' has an empty target"


def test_hardlink_target_climbing_out_is_rejected() -> None:
    with pytest.raises(PathEscapeRejected) as err:
        classify(member(b"h", "1", b"../etc/shadow"))
    assert err.value.message == "layer 1: hardlink 'h' target '../etc/shadow': climbs out of the image root"


def test_backslash_dotdot_is_a_literal_name_with_a_notice() -> None:
    assert classify(member(b"..\\..\\evil")) == MemberRecord(
        MemberKind.FILE, "..\\..\\evil", "", None,
        (("backslash-dotdot", "layer 1: ..\\..\\evil contains a Windows-style '..' escape (backslash)"),),
    )


def test_overlay_char_device_whiteout_is_data_with_a_notice() -> None:
    assert classify(member(b"gone", "3")) == MemberRecord(
        MemberKind.CHAR, "gone", "", None,
        (("overlay-whiteout", "layer 1: 'gone' is a 0:0 char device (an overlayfs whiteout): kept as data (R9)"),),
    )


def test_other_char_device_has_no_notice() -> None:
    assert classify(member(b"dev/null", "3", devmajor=1, devminor=3)).notices == ()


def test_overlay_opaque_xattr_is_data_with_a_notice() -> None:
    record = classify(member(b"d", "5", xattrs={"trusted.overlay.opaque": b"y"}))
    assert record.kind is MemberKind.DIR
    assert record.notices == (
        ("overlay-xattr", "layer 1: 'd' carries trusted.overlay.* xattrs: kept as data, never applied (R9, R16)"),
    )


def test_notices_keep_the_order_they_were_found_in() -> None:
    notices = classify(member(b".wh.d/..\\x", "2", b"../../y")).notices
    assert [code for code, _ in notices] == ["wh-prefixed-directory", "backslash-dotdot", "symlink-escape"]


def test_outer_archive_member_keeps_link_targets_verbatim() -> None:
    assert archive_member_names(member(b"./blobs/sha256/ab", "2", b"../x/./y"), LIMITS, "img.tar") == ("blobs/sha256/ab", "../x/./y")
    assert archive_member_names(member(b"/manifest.json", "0", b"ignored"), LIMITS, "img.tar") == ("manifest.json", "")


def test_outer_archive_member_name_climbing_out_is_rejected() -> None:
    with pytest.raises(PathEscapeRejected) as err:
        archive_member_names(member(b"../manifest.json"), LIMITS, "img.tar")
    assert err.value.message == "img.tar: member name '../manifest.json': climbs out of the image root"
