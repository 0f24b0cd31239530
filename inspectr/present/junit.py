"""The one JUnit XML writer every command uses (tests/schemas/junit.xsd describes the output)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .safe import display_text

__all__ = ["JUnitCase", "junit_xml"]


@dataclass(frozen=True)
class JUnitCase:
    name: str
    status: str  # pass | fail | skip
    message: str = ""
    kind: str = ""


def junit_xml(suite: str, cases: list[JUnitCase], properties: dict[str, str] | None = None) -> bytes:
    failures = sum(1 for c in cases if c.status == "fail")
    skipped = sum(1 for c in cases if c.status == "skip")
    root = ET.Element("testsuites", name="inspectr", tests=str(len(cases)), failures=str(failures))
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0",
                         skipped=str(skipped))
    if properties:
        props = ET.SubElement(node, "properties")
        for name, value in properties.items():
            ET.SubElement(props, "property", name=name, value=display_text(value))
    for c in cases:
        case = ET.SubElement(node, "testcase", classname=f"inspectr.{suite.split()[-1]}", name=display_text(c.name))
        message = display_text(c.message)
        if c.status == "fail":
            ET.SubElement(case, "failure", message=message[:500], type=c.kind or "failure").text = message
        elif c.status == "skip":
            ET.SubElement(case, "skipped", message=message[:500])
    doc: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)  # the stubs say Any for a named encoding
    return doc
