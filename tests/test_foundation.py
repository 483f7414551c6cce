"""The installable foundation: import hygiene, CLI, s3prl compatibility."""

import subprocess
import sys


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_core_import_does_not_import_s3prl():
    out = run_python(
        "import sys, semisupcon_recipe, semisupcon_recipe.manifest, semisupcon_recipe.audio, semisupcon_recipe.cli;"
        "print('s3prl' in sys.modules)"
    )
    assert out.strip() == "False"


def test_s3prl_interop_imports_s3prl_on_pinned_stack():
    out = run_python(
        "import sys, semisupcon_recipe.interop.s3prl, s3prl.hub;"
        "print('s3prl.hub' in sys.modules, hasattr(s3prl.hub, 'hubert'))"
    )
    assert out.split()[-2:] == ["True", "True"]


def test_cli_help_lists_commands():
    result = subprocess.run([sys.executable, "-m", "semisupcon_recipe.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "usage: semisupcon" in result.stdout
