"""Chat models from a ``--model`` spec.

* ``PROVIDER:MODEL`` (``anthropic:claude-sonnet-4-5``, ``openai:gpt-4.1``,
  ``ollama:qwen3``...) goes to LangChain's ``init_chat_model``;
* ``module:attr`` loads a ``BaseChatModel`` instance, or a zero-argument
  factory (a function or a class) returning one: in-house wrappers, local
  models, tests.

A provider whose integration package or API key is missing is a
``UsageError`` (exit 2) with one message that names the pip extra and the
environment variable, checked *before* the session starts: LangChain's own
errors for these come late (a missing key only fails at the first request,
after the session has been recorded) and do not name the extra.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel

from ..errors import UsageError
from ..registry import load_object


@dataclass(frozen=True)
class Provider:
    """What a provider needs: its integration module, the pip extra, its key."""

    module: str
    extra: str  # langchain[<extra>], or a package name when langchain has no extra
    keys: tuple[str, ...] = ()  # any one of these environment variables will do

    @property
    def package(self) -> str:
        return self.module.split(".", 1)[0].replace("_", "-")

    @property
    def pip(self) -> str:
        return (
            f'pip install "langchain[{self.extra}]"'
            if self.extra
            else f"pip install {self.package}"
        )


# Providers whose key we know. Others that init_chat_model supports still
# work; we only check their package (and leave credentials to the provider:
# cloud ones use their SDK's credential chain, not one variable).
PROVIDERS: dict[str, Provider] = {
    "anthropic": Provider("langchain_anthropic", "anthropic", ("ANTHROPIC_API_KEY",)),
    "openai": Provider("langchain_openai", "openai", ("OPENAI_API_KEY",)),
    "azure_openai": Provider("langchain_openai", "openai", ("AZURE_OPENAI_API_KEY",)),
    "google_genai": Provider(
        "langchain_google_genai", "google-genai", ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    ),
    "google_vertexai": Provider("langchain_google_vertexai", "google-vertexai"),
    "google_anthropic_vertex": Provider("langchain_google_vertexai", "google-vertexai"),
    "mistralai": Provider("langchain_mistralai", "mistralai", ("MISTRAL_API_KEY",)),
    "groq": Provider("langchain_groq", "groq", ("GROQ_API_KEY",)),
    "fireworks": Provider("langchain_fireworks", "fireworks", ("FIREWORKS_API_KEY",)),
    "together": Provider("langchain_together", "together", ("TOGETHER_API_KEY",)),
    "deepseek": Provider("langchain_deepseek", "deepseek", ("DEEPSEEK_API_KEY",)),
    "xai": Provider("langchain_xai", "xai", ("XAI_API_KEY",)),
    "perplexity": Provider(
        "langchain_perplexity", "perplexity", ("PPLX_API_KEY", "PERPLEXITY_API_KEY")
    ),
    "huggingface": Provider(
        "langchain_huggingface", "huggingface", ("HUGGINGFACEHUB_API_TOKEN", "HF_TOKEN")
    ),
    "cohere": Provider("langchain_cohere", "", ("COHERE_API_KEY",)),
    "nvidia": Provider("langchain_nvidia_ai_endpoints", "", ("NVIDIA_API_KEY",)),
    "openrouter": Provider("langchain_openrouter", "", ("OPENROUTER_API_KEY",)),
    "ollama": Provider("langchain_ollama", "ollama"),
    "bedrock": Provider("langchain_aws", "aws"),
    "bedrock_converse": Provider("langchain_aws", "aws"),
    "anthropic_bedrock": Provider("langchain_aws", "aws"),
}


def _langchain_providers() -> set[str]:
    """The provider prefixes ``init_chat_model`` knows (its table is private, so guarded)."""
    try:
        from langchain.chat_models import base

        return set(getattr(base, "_BUILTIN_PROVIDERS", {}))
    except ImportError:  # pragma: no cover - langchain is a dependency
        return set()


def _infer(model: str) -> tuple[str, str] | None:
    """The provider ``init_chat_model`` would infer for a bare model name (``gpt-4.1``)."""
    try:
        from langchain.chat_models import base

        infer = getattr(base, "_attempt_infer_model_provider", None)
        provider = infer(model) if infer else None
    except Exception:  # noqa: BLE001 - a private helper: if it changes, skip the early check
        return None
    return (provider, model) if provider else None


def split_spec(spec: str) -> tuple[str, str] | None:
    """``(provider, model)`` when ``spec`` names a chat-model provider, else None."""
    prefix, sep, rest = spec.partition(":")
    if not sep or not rest:
        return None
    provider = prefix.strip().lower().replace("-", "_")
    if provider in PROVIDERS or provider in _langchain_providers():
        return provider, rest
    return None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_provider(provider: str, model: str) -> None:
    """Raise a UsageError naming the pip extra and env variable if the provider cannot work."""
    info = PROVIDERS.get(provider)
    if info is None:
        return
    missing_pkg = not _installed(info.module.split(".", 1)[0])
    missing_key = bool(info.keys) and not any(os.environ.get(k) for k in info.keys)
    if not (missing_pkg or missing_key):
        return
    keys = " or ".join(info.keys)
    problems = []
    if missing_pkg:
        problems.append(
            f"the {info.package} package is not installed (install it with: {info.pip})"
        )
    if missing_key:
        problems.append(f"no API key: set {keys} in the environment")
    raise UsageError(
        f"model {provider}:{model} cannot be used: "
        + "; and ".join(problems)
        + ". Or choose another --model (PROVIDER:MODEL, or module:attr for a chat model object)."
    )


def _from_object(obj: object, spec: str) -> BaseChatModel:
    if isinstance(obj, BaseChatModel):
        return obj
    if callable(obj):
        try:
            made = obj()
        except TypeError as exc:
            raise UsageError(
                f"{spec}: calling it with no arguments to get a chat model failed ({exc})"
            ) from exc
        if isinstance(made, BaseChatModel):
            return made
        raise UsageError(
            f"{spec}() returned a {type(made).__name__}, not a LangChain BaseChatModel"
        )
    raise UsageError(
        f"{spec} is a {type(obj).__name__}, not a chat model: expected a LangChain BaseChatModel "
        "instance or a zero-argument factory returning one"
    )


def load_model(spec: str) -> BaseChatModel:
    """The chat model a ``--model`` spec names. Raises UsageError, never a provider's exception."""
    spec = spec.strip()
    if not spec:
        raise UsageError(
            "--model is empty; use PROVIDER:MODEL (e.g. anthropic:claude-sonnet-4-5) or module:attr"
        )
    parsed = split_spec(spec)
    if parsed is None and ":" in spec:
        try:
            obj = load_object(spec)
        except UsageError as exc:
            known = ", ".join(sorted(set(PROVIDERS) | _langchain_providers()))
            raise UsageError(
                f"--model {spec!r} is neither PROVIDER:MODEL (providers: {known}) nor a chat model "
                f"to import as module:attr ({exc})"
            ) from exc
        return _from_object(obj, spec)
    if parsed is None:
        parsed = _infer(spec)
    if parsed is not None:
        check_provider(*parsed)
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(spec)
    except ImportError as exc:
        raise UsageError(f"model {spec} cannot be used: {exc}") from exc
    except ValueError as exc:
        # An unknown provider or a model name init_chat_model cannot place.
        raise UsageError(
            f"model {spec!r}: {str(exc).splitlines()[0]} Use PROVIDER:MODEL or module:attr."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - a provider's constructor failing (bad option, credentials)
        raise UsageError(f"model {spec} could not be created: {type(exc).__name__}: {exc}") from exc
