#!/usr/bin/env bash
# The action's one step, kept in a file so a local stand-in (tests/test_ci_standin.py) runs the
# very same commands. Inputs come as INPUT_* variables, as GitHub passes them.
set -uo pipefail
args=(--release "$INPUT_RELEASE" --rebuild "$INPUT_REBUILD" --report-dir "${INPUT_REPORT_DIR:-inspectr-report}")
[ -n "${INPUT_POLICY:-}" ] && args+=(--policy "$INPUT_POLICY")
[ -n "${INPUT_KEYRING:-}" ] && args+=(--keyring "$INPUT_KEYRING")
[ -n "${INPUT_KEY:-}" ] && args+=(--key "$INPUT_KEY")
inspectr gate "${args[@]}"
status=$?
verdict=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "${INPUT_REPORT_DIR:-inspectr-report}/gate.json" 2>/dev/null || echo error)
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "verdict=$verdict" >> "$GITHUB_OUTPUT"
fi
exit $status
