"""Version order per ecosystem (packages/versions.py), against dpkg itself and rpm's own cases."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest

from inspectr.packages.versions import compare_versions

DEB = ["1.6-2.1", "1.6-2.1+deb12u1", "1:1.0", "1.0~rc1", "1.0", "1.0-1", "1.0.1", "1.0a", "1.0+b1", "2.0~", "2.0",
       "0.9", "1.10", "1.9", "1.0-1~bpo1", "1.0-0", "1.0~~", "1.0~", "2:0.1", "1.0-1.1", "1.0-1a", "9.2p1-2+deb12u3",
       "7.88.1-10+deb12u8", "2.36-9+deb12u9", "0"]


def _dpkg_order(a: str, b: str) -> int:
    if subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0:
        return -1
    return 0 if subprocess.run(["dpkg", "--compare-versions", a, "eq", b]).returncode == 0 else 1


def test_deb_order_equals_dpkg_compare_versions() -> None:
    assert shutil.which("dpkg"), "dpkg is on every Debian machine this suite runs on"
    wrong = [(a, b) for a, b in itertools.product(DEB, DEB) if compare_versions("deb", a, b) != _dpkg_order(a, b)]
    assert wrong == []


# (a, b, expected): cases from rpm's own rpmvercmp test table (tests/rpmvercmp.at), as facts
RPM = [("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0.1", "2.0.1a", -1), ("5.5p1", "5.5p10", -1), ("10xyz", "10.1xyz", -1),
       ("xyz10", "xyz10.1", -1), ("1.0", "1.0a", -1), ("10", "9", 1), ("1.0~rc1", "1.0", -1), ("1.0~rc1", "1.0~rc2", -1),
       ("1.0^", "1.0", 1), ("1.0^git1", "1.0", 1), ("1.0^git1", "1.01", -1), ("1.0~rc1^git1", "1.0~rc1", 1),
       ("1:1.0-1", "0:2.0-1", 1), ("1.0-1", "1.0-2", -1), ("a", "1", -1), ("6.0.rc1", "6.0", 1), ("1b.fc17", "1.fc17", -1)]


@pytest.mark.parametrize("a, b, expected", RPM)
def test_rpm_order_follows_rpmvercmp(a: str, b: str, expected: int) -> None:
    assert compare_versions("rpm", a, b) == expected
    assert compare_versions("rpm", b, a) == -expected


@pytest.mark.parametrize("a, b, expected", [("1.10.0", "1.9.3", 1), ("2.28.1", "2.28.1", 0), ("1.0.0-beta", "1.0.0", -1),
                                            ("1.0.0-beta.2", "1.0.0-beta.10", -1), ("1.0.post1", "1.0", 1), ("1.0rc1", "1.0", -1),
                                            ("v1.2.3", "v1.2.10", -1), ("0.0.0-20230101-abc", "0.0.0-20240101-abc", -1)])
def test_language_ecosystems_order_numbers_by_value(a: str, b: str, expected: int) -> None:
    assert compare_versions("npm", a, b) == expected
