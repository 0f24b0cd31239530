"""Every command names the same image for the same reference (issue 13): one container reader,
one name rule. A name that matches nothing, or only a suffix of a real name, is a
reference-error (exit 2) in inspect, ls, diff, verify and gate alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import run_main
from inspectr import open_image
from inspectr.errors import ReferenceError_
from inspectr.store import name_matches

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SIG = FIXTURES / "signatures"
BUSYBOX_ENTRY = "sha256:0454bf75f9bf9d40379ece6254bb1408ec6f0013f2ed7f1efd30a6cd77fac00d"  # cosign-layout's image

# (reference, True when it names exactly one image, False when it names none)
REFERENCES = [
    (f"{FIXTURES}/oci-busybox", True),
    (f"oci:{FIXTURES}/oci-busybox", True),
    (f"oci:{FIXTURES}/oci-busybox:latest", True),
    (f"oci:{FIXTURES}/oci-busybox:nosuch", False),
    (f"oci:{FIXTURES}/oci-busybox:atest", False),  # a suffix of `latest`
    (f"oci:{FIXTURES}/oci-busybox:@0", True),
    (f"{FIXTURES}/oci-busybox.tar", True),
    (f"oci-archive:{FIXTURES}/oci-busybox.tar:latest", True),
    (f"oci-archive:{FIXTURES}/oci-busybox.tar:lates", False),  # a prefix
    (f"{FIXTURES}/docker-busybox.tar", True),
    (f"docker-archive:{FIXTURES}/docker-busybox.tar:busybox:latest", True),
    (f"docker-archive:{FIXTURES}/docker-busybox.tar:busybox", True),
    (f"docker-archive:{FIXTURES}/docker-busybox.tar:docker.io/library/busybox:latest", True),
    (f"docker-archive:{FIXTURES}/docker-busybox.tar:usybox:latest", False),
    (f"docker-archive:{FIXTURES}/docker-busybox.tar:busybox:lates", False),
    (f"docker-archive:{FIXTURES}/docker25-busybox.tar:busybox:latest", True),
    (f"docker-archive:{FIXTURES}/docker25-busybox.tar:busybox", True),
    (f"docker-archive:{FIXTURES}/docker25-busybox.tar:box", False),
    (f"{FIXTURES}/dir-busybox", True),
    (f"oci:{FIXTURES}/oci-multi-image:one", True),
    (f"oci:{FIXTURES}/oci-multi-image:two", True),
    (f"oci:{FIXTURES}/oci-multi-image:ne", False),
    (f"oci:{FIXTURES}/oci-multiarch:latest", True),
    (f"oci:{SIG}/cosign-layout:latest", True),
    (f"oci:{SIG}/cosign-layout", True),  # the .sig manifest beside it is not an image
    (f"oci:{SIG}/cosign-layout:atest", False),
    (f"oci:{SIG}/cosign-layout:{BUSYBOX_ENTRY}", True),  # by the entry's digest
    (f"oci:{SIG}/cosign-layout:sha256:{'0' * 64}", False),
]


def _code(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_main(capsys, *args)


@pytest.mark.parametrize("reference,names_one", REFERENCES, ids=[r.replace(str(FIXTURES), "") for r, _ in REFERENCES])
def test_every_command_names_the_same_image(capsys: pytest.CaptureFixture[str], reference: str, names_one: bool) -> None:
    results = {
        "inspect": _code(capsys, "inspect", "--no-layers", "-f", "json", reference),
        "ls": _code(capsys, "ls", reference),
        "diff": _code(capsys, "diff", reference, reference),
        "verify": _code(capsys, "verify", "-f", "json", reference),
        "gate": _code(capsys, "gate", "--release", reference, "--rebuild", reference),
    }
    if not names_one:
        for command, (code, out, err) in results.items():
            assert code == 2, (command, code, err)
            line = json.loads(err)["message"] if out == "" and err.startswith("{") else err
            assert err.count("\n") == 1 and "reference-error" in err, (command, err)
            assert "no image named" in line and "available: " in line, (command, err)
        with pytest.raises(ReferenceError_):
            open_image(reference)
        return
    for command, (code, _, err) in results.items():
        assert code == 0, (command, code, err)
    image = open_image(reference)
    verified = json.loads(results["verify"][1])["manifest_digests"]
    if image.entry_digest is None:  # a legacy docker save entry: nothing a signature could name
        assert verified == []
    else:
        assert verified[0] == str(image.entry_digest)
        assert str(image.manifest_digest) in verified
    inspected = json.loads(results["inspect"][1])
    assert inspected["manifest_digest"] == (str(image.manifest_digest) if image.manifest_digest else None)


def test_verify_of_a_typo_with_a_key_is_a_reference_error_not_verified(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "verify", f"oci:{SIG}/cosign-layout:atest", "--key", str(SIG / "cosign-a.pub"))
    assert code == 2 and out == ""
    assert "error[reference-error]" in err and "'atest'" in err and "available: latest" in err
    code, out, _ = run_main(capsys, "verify", f"oci:{SIG}/cosign-layout:latest", "--key", str(SIG / "cosign-a.pub"))
    assert code == 0 and "verified" in out


def test_verify_without_a_name_checks_every_image_of_a_multi_image_layout(capsys: pytest.CaptureFixture[str]) -> None:
    # Integrity covers the whole layout; only signatures need one named image.
    code, out, _ = run_main(capsys, "verify", "-f", "json", str(FIXTURES / "oci-multi-image"))
    assert code == 0 and json.loads(out)["manifest_digests"] == []
    code, _, err = run_main(capsys, "verify", str(FIXTURES / "oci-multi-image"), "--require-signature")
    assert code == 2 and "error[reference-error]" in err and "one, two" in err


@pytest.mark.parametrize("ref,names,expected", [
    ("latest", ("latest",), True),
    ("atest", ("latest",), False),
    ("lates", ("latest",), False),
    ("busybox", ("docker.io/library/busybox:latest",), True),
    ("busybox:latest", ("docker.io/library/busybox:latest",), True),
    ("library/busybox", ("docker.io/library/busybox:latest",), False),
    ("docker.io/library/busybox", ("busybox:latest",), True),
    ("latest", ("docker.io/library/busybox:latest",), True),  # the tag of a full name
    ("usybox:latest", ("busybox:latest",), False),
    ("busybox:1", ("busybox:1.36",), False),
    ("app", ("registry.example/app:1",), False),
    ("registry.example/app:1", ("registry.example/app:1",), True),
])
def test_the_one_name_rule(ref: str, names: tuple[str, ...], expected: bool) -> None:
    assert name_matches(ref, names) is expected
