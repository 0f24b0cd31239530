#!/usr/bin/env bash
# Break each rule of tests/test_architecture.py once, in a scratch worktree of HEAD whose commits are
# never landed, and show that exactly that rule's test fails. Run: bash scripts/break_architecture_rules.sh
src="$(cd "$(dirname "$0")/.." && pwd)"
wt="$(mktemp -d)/scratch"
git -C "$src" worktree prune
git -C "$src" worktree add -q --detach "$wt" HEAD
cd "$wt"
base=$(git rev-parse HEAD)
run() {
  local name="$1"; shift
  git reset -q --hard "$base"
  "$@"
  git commit -qam "scratch: break $name"
  out=$(python3 -m pytest -q -p no:cacheprovider tests/test_architecture.py 2>&1)
  failed=$(echo "$out" | grep -E "^FAILED" | sed 's/ - .*//' | tr '\n' ' ')
  echo "rule: $name -> $(echo "$out" | tail -1) :: $failed"
}
run "core imports above it" sed -i '0,/^from .digest import/s//from .fs.entry import EntryKind  # noqa\nfrom .digest import/' inspectr/model.py
run "engine imports sources" sed -i '0,/^from ..session import Session/s//from ..sources.detect import open_image  # noqa\nfrom ..session import Session/' inspectr/gate/engine.py
run "engine imports present" sed -i '0,/^from ..session import Session/s//from ..present.safe import display_text  # noqa\nfrom ..session import Session/' inspectr/diff/engine.py
run "ctypes outside linux.py" sed -i '0,/^import os$/s//import os\nimport ctypes  # noqa/' inspectr/runtime/run.py
run "fork outside the syscall modules" bash -c 'printf "\n\ndef _leak() -> int:\n    return os.fork()\n" >> inspectr/fs/export.py'
run "raw member bytes outside untrusted" bash -c 'printf "\n\ndef _peek(member: object) -> object:\n    return member.raw_linkname  # type: ignore[attr-defined]\n" >> inspectr/fs/layer_index.py'
run "CLI line budget" bash -c 'for i in $(seq 90); do echo "# padding $i" >> inspectr/cli/cat_cmd.py; done'
run "module-level mutable state" bash -c 'printf "\n_SEEN: dict[str, int] = {}\n\n\ndef _remember(key: str) -> None:\n    _SEEN[key] = 1\n" >> inspectr/fs/build.py'
run "docs name every module" bash -c 'printf "\"\"\"new module\"\"\"\n" > inspectr/fs/undocumented.py; git add inspectr/fs/undocumented.py'
git reset -q --hard "$base"
cd /; git -C "$src" worktree remove --force "$wt"; rmdir "$(dirname "$wt")"
