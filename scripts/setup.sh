#!/usr/bin/env bash
# Idempotent set-up: a virtual environment with the pinned stack and this package
# (editable) with its test and s3prl extras. Safe to run again; pip skips what is there.
set -euo pipefail

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade "pip==25.3"
# torch and torchaudio first, as one matched pair, so nothing else picks a torch.
"$VENV/bin/python" -m pip install --quiet "torch==2.11.0" "torchaudio==2.11.0"
"$VENV/bin/python" -m pip install --quiet -e ".[test]"
"$VENV/bin/python" -c "import torch, torchaudio, speechbrain; print('stack:', 'torch', torch.__version__, 'torchaudio', torchaudio.__version__, 'speechbrain', speechbrain.__version__)"
