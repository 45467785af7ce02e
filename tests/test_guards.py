"""Guard tests: the engine stays independent of the UI, and its public API is real."""

import importlib
import inspect
import pkgutil
import subprocess
import sys

import otcore

PUBLIC_MODULES = ["otcore"] + [
    m.name for m in pkgutil.walk_packages(otcore.__path__, "otcore.") if not m.name.endswith("__main__")
]


def test_importing_otcore_never_imports_streamlit():
    code = (
        "import sys, pkgutil, importlib, otcore\n"
        "for m in pkgutil.walk_packages(otcore.__path__, 'otcore.'):\n"
        "    if m.name.endswith('__main__'):\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.')]\n"
        "assert not bad, bad[:5]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_api_is_importable_and_documented():
    for name in PUBLIC_MODULES:
        mod = importlib.import_module(name)
        assert mod.__doc__, f"{name} has no module docstring"
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert obj.__doc__, f"{name}.{attr} has no docstring"
