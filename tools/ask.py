"""``ask_human``: the agent asks the developer a question.

The question goes through the session's approver channel (``ctx.ask``); the
broker records ``question_asked`` and ``question_answered`` around it. With
no person attached (no ``ctx.ask``, or an approver that cannot answer) the
agent is told that no one is available, so it decides conservatively or stops
instead of waiting forever.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

NO_ONE = (
    "No one is available to answer; proceed with the most conservative choice or stop and report."
)


class AskHumanArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        description="The question for the developer (about desired behaviour, intent...)."
    )
    choices: list[str] | None = Field(None, description="Possible answers to offer, if any.")


class AskHumanTool(Tool):
    name = "ask_human"
    description = (
        "Ask the developer a question (e.g. which behaviour is wanted) and wait for the answer. "
        "Offer choices when there are a few clear options."
    )
    Args = AskHumanArgs

    def facts(self, args: AskHumanArgs, ctx: ToolContext) -> Facts:
        return Facts(risk=["read_only"])

    def preview(self, args: AskHumanArgs, ctx: ToolContext) -> str | None:
        choices = f"\nchoices: {', '.join(args.choices)}" if args.choices else ""
        return f"ask: {args.question}{choices}"

    def run(self, args: AskHumanArgs, ctx: ToolContext) -> ToolResult:
        if not args.question.strip():
            return ToolResult.fail("ask_human: the question is empty")
        choices = list(args.choices or [])
        if ctx.ask is None:
            return ToolResult(output=NO_ONE, data={"answered": False, "answer": None})
        try:
            answer = ctx.ask(args.question, choices)
        except Exception as exc:  # noqa: BLE001 - the channel failing is "no answer", not a crash
            msg = f"no answer: the question could not be delivered ({exc})"
            return ToolResult(
                status="failed", output=msg, error=msg, data={"answered": False, "answer": None}
            )
        answer = "" if answer is None else str(answer)
        answered = bool(answer.strip()) and not answer.startswith("(no answer") and answer != NO_ONE
        return ToolResult(output=answer or NO_ONE, data={"answered": answered, "answer": answer})
