"""Known providers as data: base URL, dialect and the environment variables the official SDKs read.

An OpenAI-compatible provider is one entry here, not code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    dialect: str
    base_url: str | None  # None: must be configured (Azure, vLLM)
    key_env: str | None  # env var holding the API key, as the provider's own SDK reads it
    base_url_env: str | None = None  # env var that overrides the base URL
    needs_key: bool = True


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
        Preset("azure", "azure", None, "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"),
        Preset(
            "anthropic",
            "anthropic",
            "https://api.anthropic.com/v1",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
        ),
        Preset(
            "gemini",
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta",
            "GEMINI_API_KEY",
            "GEMINI_BASE_URL",
        ),
        Preset("together", "openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY", "TOGETHER_BASE_URL"),
        Preset(
            "fireworks",
            "openai",
            "https://api.fireworks.ai/inference/v1",
            "FIREWORKS_API_KEY",
            "FIREWORKS_BASE_URL",
        ),
        Preset(
            "deepinfra",
            "openai",
            "https://api.deepinfra.com/v1/openai",
            "DEEPINFRA_API_KEY",
            "DEEPINFRA_BASE_URL",
        ),
        Preset("groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "GROQ_BASE_URL"),
        Preset("mistral", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "MISTRAL_BASE_URL"),
        Preset("deepseek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"),
        Preset(
            "openrouter",
            "openai",
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
            "OPENROUTER_BASE_URL",
        ),
        Preset("xai", "openai", "https://api.x.ai/v1", "XAI_API_KEY", "XAI_BASE_URL"),
        Preset("cerebras", "openai", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", "CEREBRAS_BASE_URL"),
        Preset(
            "perplexity", "openai", "https://api.perplexity.ai", "PERPLEXITY_API_KEY", "PERPLEXITY_BASE_URL"
        ),
        Preset("vllm", "openai", None, "VLLM_API_KEY", "VLLM_BASE_URL", needs_key=False),
        Preset("ollama", "openai", "http://127.0.0.1:11434/v1", None, "OLLAMA_BASE_URL", needs_key=False),
    )
}
