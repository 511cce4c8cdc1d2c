"""OpenAI-compatible servers a run talks to (`generation=openai`, `eval.judge_base_url`): the key
from its environment variable, and a probe before the first stage, so an unreachable server or a
missing key is an error before any work, not a traceback after SFT trained."""
from __future__ import annotations

import ipaddress
import os
import urllib.error
import urllib.request
from urllib.parse import urlparse

from .artifacts import ArtifactError


def is_loopback(base_url: str) -> bool:
    host = urlparse(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(env_name: str, base_url: str) -> str:
    """The key in `env_name`; a server on this machine (loopback, e.g. `vllm serve`) takes any key,
    so there an unset variable sends a placeholder. Elsewhere an unset variable is an error."""
    key = os.environ.get(env_name)
    if key:
        return key
    if is_loopback(base_url):
        return "EMPTY"
    raise ArtifactError(f"{env_name} is not set: the server at {base_url} needs its key there (export {env_name}=...)")


def probe(config_key: str, base_url: str, timeout_s: float = 10.0) -> None:
    """Any HTTP answer from `<base_url>/models` (an error status included: the server is there) passes."""
    try:
        urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ArtifactError(f"{config_key}={base_url}: no server answers there ({reason}); start it or fix the "
                            "URL (checked before the first stage)") from None


def check_endpoints(cfg) -> None:
    """The servers this configuration uses: keys present and servers answering."""
    used = []
    if cfg.generation.name == "openai" and cfg.generation.base_url:
        used.append(("generation.base_url", cfg.generation.base_url, cfg.generation.api_key_env))
    if cfg.eval.judge_base_url:
        used.append(("eval.judge_base_url", cfg.eval.judge_base_url, cfg.eval.judge_api_key_env))
    for key, url, env in used:
        api_key(env, url)
        probe(key, url)
