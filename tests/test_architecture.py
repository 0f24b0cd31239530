"""The file tree is the architecture (STYLE.md): imports flow one way."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "inspectr"

# Lower layers must not import higher ones.
FORBIDDEN = {
    "untrusted": {"fs", "sources", "present", "cli", "summary", "session"},
    "fs": {"present", "cli"},
    "sources": {"present", "cli", "fs.tree", "fs.build"},
    "present": {"cli"},
    # the network layer knows wire formats and the cache, not images, trees or engines
    "registry": {"fs.tree", "fs.build", "sources", "image", "diff", "verify", "audit", "gate", "runtime", "present", "cli"},
}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    rel = path.relative_to(PKG).with_suffix("")
    package = list(rel.parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
                out.append(("inspectr." + name if name else "inspectr", node.level))
            else:
                out.append((node.module or "", 0))
    return out


def test_only_cli_imports_click_and_only_cli_and_present_import_rich() -> None:
    for path in PKG.rglob("*.py"):
        top = path.relative_to(PKG).parts[0]
        for name, _ in _imports(path):
            if name.split(".")[0] == "click":
                assert top == "cli", f"{path}: imports click"
            if name.split(".")[0] == "rich":
                assert top in ("cli", "present"), f"{path}: imports rich"


def test_imports_flow_one_way() -> None:
    for path in PKG.rglob("*.py"):
        top = path.relative_to(PKG).parts[0]
        banned = FORBIDDEN.get(top)
        if not banned:
            continue
        for name, _ in _imports(path):
            if not name.startswith("inspectr."):
                continue
            target = name[len("inspectr."):]
            for b in banned:
                assert not (target == b or target.startswith(b + ".")), f"{path}: imports inspectr.{target}"


def test_tarfile_is_never_used_to_read_images() -> None:
    # tarfile may build headers for export, but never parse image bytes (unionfs.md §4).
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        assert "tarfile.open" not in text, path
        assert ".extract" not in text or "tarfile" not in text, path


# --- issue 13: the layering, each rule a test that fails when the rule is broken -----------------

# The ground floor: plain values and the one verifying reader. They import only each other.
CORE = {"errors", "limits", "digest", "model", "mediatypes", "notice", "image", "store", "package", "inventory_model"}
# Engines take opened images (or open them through the Session) and return values.
ENGINES = {"diff", "audit", "verify", "gate", "runtime", "packages", "fleet"}
# The runtime's syscall modules: ctypes wrappers (linux.py) and the choreography (container.py).
SYSCALL_MODULES = {"runtime/linux.py", "runtime/container.py"}
PROCESS_SYSCALLS = {"fork", "forkpty", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp",
                    "posix_spawn", "posix_spawnp", "unshare", "setns", "mount", "umount", "umount2", "pivot_root"}
CLI_LINE_BUDGET = 80  # per command module; cli/__init__.py and cli/common.py hold the shared parts


def _modules() -> list[tuple[Path, str]]:
    return [(path, path.relative_to(PKG).as_posix()) for path in sorted(PKG.rglob("*.py"))]


def _inspectr_imports(path: Path) -> list[str]:
    return [name[len("inspectr."):] for name, _ in _imports(path) if name.startswith("inspectr.")]


def test_core_values_import_nothing_above_them() -> None:
    for path, rel in _modules():
        if "/" in rel or rel.removesuffix(".py") not in CORE:
            continue
        for target in _inspectr_imports(path):
            assert target.split(".")[0] in CORE, f"{rel}: the ground floor imports inspectr.{target}"


def test_engines_never_import_sources_cli_or_present() -> None:
    for path, rel in _modules():
        if rel.split("/")[0] not in ENGINES:
            continue
        for target in _inspectr_imports(path):
            top = target.split(".")[0]
            assert top not in ("sources", "cli", "present"), f"{rel}: an engine imports inspectr.{target}"


def test_only_the_runtime_syscall_modules_use_ctypes_or_make_process_and_mount_syscalls() -> None:
    for path, rel in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n.split(".")[0] == "ctypes" for n in names):
                    assert rel == "runtime/linux.py", f"{rel}:{node.lineno}: imports ctypes"
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name in PROCESS_SYSCALLS:
                    assert rel in SYSCALL_MODULES, f"{rel}:{node.lineno}: calls {name}()"


def test_only_untrusted_reads_raw_member_bytes() -> None:
    # A tar Member's raw_name/raw_linkname are the archive's bytes: outside untrusted/, code sees
    # only normalised records (whose raw_name is a decoded string kept for reports). A Member
    # reaches other code only as `member` (TarWalker's items), so that is what is checked.
    for path, rel in _modules():
        if rel.startswith("untrusted/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "raw_linkname":
                raise AssertionError(f"{rel}:{node.lineno}: reads a member's raw link name")
            if isinstance(node, ast.Attribute) and node.attr == "raw_name" and "member" in ast.unparse(node.value).lower():
                raise AssertionError(f"{rel}:{node.lineno}: reads a tar member's raw name")


def test_cli_command_modules_stay_under_their_line_budget() -> None:
    for path in sorted((PKG / "cli").glob("*_cmd.py")):
        lines = len(path.read_text().splitlines())
        assert lines <= CLI_LINE_BUDGET, f"{path.name}: {lines} lines (budget {CLI_LINE_BUDGET}): move the work into the library"


def test_no_module_level_mutable_state() -> None:
    # One Session value instead of globals: no `global` statements, and no module-level dict,
    # list or set that code mutates (constants are tuples, frozensets, or never written).
    for path, rel in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.Global), f"{rel}:{node.lineno}: global statement"
        module_names = {t.id for stmt in tree.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
                        for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                        if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            # NAME[...] = ..., NAME.append/add/update/setdefault/... at any depth
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in module_names:
                        raise AssertionError(f"{rel}:{node.lineno}: writes module-level {t.value.id}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                if node.func.value.id in module_names and node.func.attr in (
                        "append", "add", "update", "setdefault", "pop", "clear", "extend", "insert", "remove", "discard"):
                    raise AssertionError(f"{rel}:{node.lineno}: mutates module-level {node.func.value.id}")


def test_docs_architecture_names_every_module() -> None:
    text = (PKG.parent / "docs" / "architecture.md").read_text()
    missing = [rel for _, rel in _modules()
               if not rel.endswith("__init__.py") and Path(rel).name not in text]
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"
