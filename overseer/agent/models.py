"""Chat models from a ``--model`` spec.

* ``PROVIDER:MODEL`` (``anthropic:claude-sonnet-4-5``, ``openai:gpt-4.1``,
  ``ollama:qwen3``...) goes to LangChain's ``init_chat_model``;
* ``module:attr`` loads a ``BaseChatModel`` instance, or a zero-argument
  factory (a function or a class) returning one: in-house wrappers, local
  models, tests.

Either may carry options after ``?`` (``openai:gpt-4.1?streaming=true``, see
``spec.py``); ``--base-url`` sets ``base_url``.

A provider whose integration package or API key is missing is a
``UsageError`` (exit 2) with one message that names the pip extra and the
environment variable, checked *before* the session starts: LangChain's own
errors for these come late (a missing key only fails at the first request,
after the session has been recorded) and do not name the extra. A provider
pointed at another server (a base URL from the spec, ``--base-url`` or the
provider's variable such as ``OPENAI_BASE_URL``) may need no key: a local
server usually does not, so none is required and a placeholder is sent.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from ..errors import UsageError
from .spec import OPTIONS, ModelSpec, parse_spec

# Sent as the API key to a server at a custom base URL when no key is set:
# the provider's client refuses to start without one, a local server ignores it.
NO_KEY = "no-key-set"


@dataclass(frozen=True)
class Provider:
    """What a provider needs: its integration module, the pip extra, its key."""

    module: str
    extra: str  # langchain[<extra>], or a package name when langchain has no extra
    keys: tuple[str, ...] = ()  # any one of these environment variables will do
    base_url_vars: tuple[str, ...] = ()  # where the client reads a custom server's URL

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
    "anthropic": Provider(
        "langchain_anthropic",
        "anthropic",
        ("ANTHROPIC_API_KEY",),
        ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_URL"),
    ),
    "openai": Provider(
        "langchain_openai", "openai", ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE")
    ),
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
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module blocked or half-imported
        return False


def custom_base_url(provider: str, options: dict[str, Any]) -> str | None:
    """The server a provider is pointed at instead of its own: the spec's
    ``base_url``, else the provider's environment variable; None for the default."""
    if options.get("base_url"):
        return str(options["base_url"])
    info = PROVIDERS.get(provider)
    for var in info.base_url_vars if info else ():
        if os.environ.get(var):
            return os.environ[var]
    return None


def _has_key(info: Provider) -> bool:
    return any(os.environ.get(k) for k in info.keys)


def check_provider(provider: str, model: str, base_url: str | None = None) -> None:
    """Raise a UsageError naming the pip extra and env variable if the provider cannot work.

    With a custom ``base_url`` the key is optional (a local server needs none)."""
    info = PROVIDERS.get(provider)
    if info is None:
        return
    missing_pkg = not _installed(info.module.split(".", 1)[0])
    missing_key = bool(info.keys) and not base_url and not _has_key(info)
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


def _import_target(target: str) -> object:
    """``module:attr``, with the import's own error first when it fails."""
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            # The module exists but something it imports does not.
            raise UsageError(f"--model {target}: importing {module_name!r} failed: {exc}") from exc
        known = ", ".join(sorted(set(PROVIDERS) | _langchain_providers()))
        raise UsageError(
            f"--model {target}: cannot import module {module_name!r} ({exc}). It is not a "
            f"provider either (PROVIDER:MODEL takes one of: {known})"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any failure at import is the user's to see, first
        raise UsageError(
            f"--model {target}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise UsageError(
                f"--model {target}: {module_name!r} has no attribute {attr!r}"
            ) from exc
    return obj


def provider_kwargs(provider: str, spec: ModelSpec, base_url: str | None) -> dict[str, Any]:
    """Keyword arguments for ``init_chat_model``: the spec's options (its
    ``base_url`` among them; one from the environment the client reads itself)
    and the placeholder key a keyless custom server gets."""
    kwargs = dict(spec.options)
    info = PROVIDERS.get(provider)
    if info is not None and info.keys and base_url and not _has_key(info):
        kwargs["api_key"] = NO_KEY
    if provider == "openai" and kwargs.get("streaming") and "stream_usage" not in kwargs:
        # Usage is what --max-tokens counts; against a custom server LangChain
        # leaves it off unless asked.
        kwargs["stream_usage"] = True
    return kwargs


def load_model(spec_text: str, *, base_url: str | None = None) -> BaseChatModel:
    """The chat model a ``--model`` spec names. Raises UsageError, never a provider's exception.

    ``base_url`` (from ``--base-url``) overrides the spec's ``base_url`` option."""
    if not spec_text.strip():
        raise UsageError(
            "--model is empty; use PROVIDER:MODEL (e.g. anthropic:claude-sonnet-4-5) or module:attr"
        )
    spec = parse_spec(spec_text)
    if base_url is not None:
        try:
            base_url = OPTIONS["base_url"][0](base_url)
        except ValueError as exc:
            raise UsageError(f"--base-url {base_url!r}: {exc}") from exc
        spec = ModelSpec(spec.text, spec.target, {**spec.options, "base_url": base_url})
    target = spec.target
    parsed = split_spec(target)
    if parsed is None and ":" in target:
        if spec.options:
            raise UsageError(
                f"--model {spec.text!r}: options (and --base-url) apply to PROVIDER:MODEL specs; "
                "set them on the chat model that module:attr returns"
            )
        return _from_object(_import_target(target), target)
    if parsed is None:
        parsed = _infer(target)
    kwargs: dict[str, Any] = dict(spec.options)
    if parsed is not None:
        provider, model = parsed
        url = custom_base_url(provider, spec.options)
        check_provider(provider, model, url)
        kwargs = provider_kwargs(provider, spec, url)
    from langchain.chat_models import init_chat_model

    try:
        return init_chat_model(target, **kwargs)
    except ImportError as exc:
        raise UsageError(f"model {target} cannot be used: {exc}") from exc
    except ValueError as exc:
        # An unknown provider or a model name init_chat_model cannot place.
        raise UsageError(
            f"model {target!r}: {str(exc).splitlines()[0]} Use PROVIDER:MODEL or module:attr."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - a provider's constructor failing (bad option, credentials)
        raise UsageError(
            f"model {target} could not be created: {type(exc).__name__}: {exc}"
        ) from exc
