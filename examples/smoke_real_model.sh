#!/usr/bin/env bash
# A real-model smoke run: one small overseer session against the real API.
#
#   OPENAI_API_KEY=sk-... examples/smoke_real_model.sh openai:gpt-4.1-mini
#   ANTHROPIC_API_KEY=... examples/smoke_real_model.sh anthropic:claude-haiku-4-5
#   examples/smoke_real_model.sh 'openai:qwen3?base_url=http://127.0.0.1:8000/v1'
#
# It builds a throw-away git repository with one failing test, asks the model
# to find out why (read-only: the default policy allows inspection and
# running the tests; anything else is denied, since no person approves),
# with a small step and token budget, then verifies the session's log.
# Not part of `make test`: it needs a key (or a local server) and costs tokens.
set -euo pipefail

MODEL="${1:-openai:gpt-4.1-mini}"
OVERSEER="${OVERSEER:-overseer}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/overseer-smoke-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
REPO="$WORK/repo"
LOG="$WORK/audit.db"

mkdir -p "$REPO"
cd "$REPO"
git init -q -b main
git config user.name smoke && git config user.email smoke@example.com
cat > calc.py <<'PY'
def add(a, b):
    return a - b
PY
cat > test_calc.py <<'PY'
from calc import add

def test_add():
    assert add(2, 3) == 5
PY
git add -A && git commit -q -m "calc with a bug"
cd - >/dev/null

echo "smoke: $MODEL in $REPO (log $LOG)" >&2
status=0
"$OVERSEER" run "Find out why test_calc.py fails. Do not change any file; report the cause." \
    --model "$MODEL" --repo "$REPO" --log "$LOG" --headless --approver deny-all \
    --max-steps 8 --max-tokens 40000 || status=$?
echo "smoke: overseer run exited $status" >&2
"$OVERSEER" verify --all --log "$LOG"
# 0 completed; 1 failed (a budget or a model error: the message says which).
exit "$status"
