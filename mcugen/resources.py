"""Where templates/ and runtime_c/ are: beside the package in a checkout, inside it when installed."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(folder: str) -> Path:
    installed = _PACKAGE / "_data" / folder  # pyproject maps the top-level folders here for wheels
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / folder
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"mcugen is installed without its {folder}/ folder")


def templates_dir() -> Path:
    return _find("templates")


def runtime_dir() -> Path:
    return _find("runtime_c")
