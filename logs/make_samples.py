"""Regenerate the sample sessions in logs/samples/ (run from the repo root):

    .venv/bin/python logs/make_samples.py

A real bisect session on the demo repository, every action through the
broker, decided by a scripted "developer" who answers yes to the revert and
approves the three changes it needs; exported as JSONL with its hashes and
signed checkpoints, and the verifier key of the (throwaway) key that signed
them written beside it, so that

    overseer verify logs/samples/demo-bisect.jsonl --key logs/samples/demo-bisect.vkey

checks it on any machine.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from overseer.examples.demo_repo import build

from overseer.agent.bisect import BisectAgent
from overseer.approval import ApprovalDecision, ApprovalRequest
from overseer.log import AuditLog, keys
from overseer.log.jsonl import export_session
from overseer.session import Session, SessionConfig, run_agent

HERE = Path(__file__).resolve().parent


class Developer:
    name = "console"
    by = "developer@example.com"

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        if req.kind == "question":
            return ApprovalDecision(decision="approve", by=self.by, answer="yes")
        return ApprovalDecision(
            decision="approve", by=self.by, args_hash=req.args_hash, reason="looks right"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["OVERSEER_HOME"] = str(Path(tmp) / "home")
        signer = keys.load_signer(create=True, name="overseer-samples@overseer.example")
        assert signer is not None
        repo = Path(tmp) / "shopcart"
        facts = build(repo)
        db = Path(tmp) / "audit.db"
        cfg = SessionConfig(
            task="find the commit that broke `python -m pytest -q -x`",
            agent="bisect",
            workspace=repo,
            log_path=db,
            sandbox="none",
        )
        result = run_agent(Session.open(cfg, approver=Developer()), BisectAgent(test=facts["test"]))
        assert result.data.get("first_bad") == facts["regression"], result.final
        out = HERE / "samples" / "demo-bisect.jsonl"
        with AuditLog(db) as log, out.open("w", encoding="utf-8") as fh:
            n = export_session(log, result.session, fh)
        vkey = out.with_suffix(".vkey")
        vkey.write_text(signer.verifier.vkey + "\n")
        print(f"wrote {out} ({n} events, session {result.session}) and its verifier key {vkey}")


if __name__ == "__main__":
    main()
